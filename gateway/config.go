package gateway

import "github.com/wsgate/wsgate/gateway/config"

// Config is everything the gateway needs; cmd/wsgate fills it from flags
// (package config, which also validates it).
type Config = config.Config

// tick is the timing wheel's granularity: timeouts fire up to one tick late.
const tick = config.Tick

// lingerTicks is how long a connection we are closing may take to read our
// last bytes and close its side before we drop it.
const lingerTicks = 20
