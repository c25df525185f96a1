package router

import "github.com/wsgate/wsgate/router/bus"

// BusPositioner is a bus whose messages carry positions (bus.Positioner):
// lossless resume asks it where a topic's stream starts on this node.
type BusPositioner = bus.Positioner

// BusFetcher is a bus that can read a topic's past messages back
// (bus.Fetcher): lossless resume beyond the in-memory history.
type BusFetcher = bus.Fetcher
