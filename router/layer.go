package router

import (
	"errors"

	"github.com/wsgate/wsgate/router/backend"
	"github.com/wsgate/wsgate/router/bus"
	"github.com/wsgate/wsgate/router/topic"
)

// The router's sub-packages seen through one door: the gateway imports
// router and names these, never router/bus, router/topic or router/backend.

// Bus carries broadcast messages between gateway nodes (bus.Bus).
type Bus = bus.Bus

// BusMessage is one broadcast (bus.Message).
type BusMessage = bus.Message

// BusHandler receives every message of the bus in bus order (bus.Handler).
type BusHandler = bus.Handler

// BusStatuser is a bus that can report itself degraded (bus.Statuser).
type BusStatuser = bus.Statuser

// OpCode is a message's WebSocket opcode (bus.OpCode).
type OpCode = bus.OpCode

// The opcodes a message can carry.
const (
	OpText   = bus.OpText
	OpBinary = bus.OpBinary
	OpClose  = bus.OpClose
)

// TopicTable keeps one event loop's subscribers of every topic (topic.Table).
type TopicTable[M topic.Member] = topic.Table[M]

// TopicGroup is the set of one loop's subscribers of one topic (topic.Group).
type TopicGroup[M topic.Member] = topic.Group[M]

// NewTopicTable returns an empty topic table.
func NewTopicTable[M topic.Member]() *TopicTable[M] { return topic.NewTable[M]() }

// ServerState is a server's effective state: UP, DOWN, DRAIN or MAINT (backend.State).
type ServerState = backend.State

// The server states.
const (
	ServerUp    = backend.Up
	ServerDown  = backend.Down
	ServerDrain = backend.Drain
	ServerMaint = backend.Maint
)

// ServerStats is a snapshot of one server (backend.Stats).
type ServerStats = backend.Stats

// PoolStats is one backend pool with its servers, for the stats page and metrics.
type PoolStats struct {
	Name    string        `json:"name"`
	Balance string        `json:"balance"`
	Cookie  string        `json:"cookie,omitempty"`
	Up      int           `json:"up"`
	Queued  int           `json:"queued"`
	Servers []ServerStats `json:"servers"`
}

// PoolStats returns every pool's figures, in flag order.
func (s *Snapshot) PoolStats() []PoolStats {
	var out []PoolStats
	for _, p := range s.pools.Pools() {
		ps := PoolStats{Name: p.Name, Balance: p.Method.String(), Cookie: p.Opts.Cookie, Up: p.Up(), Queued: p.Queued()}
		for _, srv := range p.Servers {
			ps.Servers = append(ps.Servers, srv.Stats())
		}
		out = append(out, ps)
	}
	return out
}

// ErrBadState is returned by SetServerState for a state it does not know.
var ErrBadState = errors.New("state must be drain, maint or ready")

// SetServerState sets the admin state of the server ref ("pool/server") of
// the current routing, like HAProxy's "set server app/s1 state drain":
// drain (no new sessions but sticky ones), maint (none at all) or ready. A
// reload keeps it. The error is ErrBadState, or says which name is unknown.
func (r *Router) SetServerState(ref, state string) (ServerStats, error) {
	s, err := r.Current().pools.Lookup(ref)
	if err != nil {
		return ServerStats{}, err
	}
	switch state {
	case "drain":
		s.SetMaint(false)
		s.SetDrain(true)
	case "maint":
		s.SetMaint(true)
	case "ready":
		s.SetMaint(false)
		s.SetDrain(false)
	default:
		return ServerStats{}, ErrBadState
	}
	return s.Stats(), nil
}

// TopicName turns a path segment (still percent-escaped) into a topic name by
// the one rule WebSocket paths and the publish API share (topic.Name).
func TopicName(raw string) (string, error) { return topic.Name(raw) }

// ErrEmptyTopicName is TopicName's answer for an empty segment (topic.ErrEmptyName).
var ErrEmptyTopicName = topic.ErrEmptyName
