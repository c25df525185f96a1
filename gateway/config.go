package gateway

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/tlscert"
	"github.com/wsgate/wsgate/router"
)

// Config is everything the gateway needs; cmd/wsgate fills it from flags.
type Config struct {
	Listen      string // client listener, host:port
	AdminListen string // admin listener (healthz, metrics, pprof); "" disables
	DemoPath    string // path of the built-in chat page; "" disables

	// Routing is the -route, -backend and -drain specs and the pool
	// defaults: plain data that the router turns into pools and checks. It
	// is the part of the configuration a reload applies.
	Routing router.Config

	HandshakeTimeout time.Duration
	ClientTimeout    time.Duration // a request body stalled this long gets 408
	DrainTime        time.Duration // SIGTERM: closes are spread over this long
	PingInterval     time.Duration
	IdleTimeout      time.Duration

	MaxHeaderBytes  int
	MaxMessageBytes int
	MaxOutbound     int

	Origins      []string
	Subprotocols []string
	Compression  bool

	PublishToken string // bearer token for POST /v1/publish/{topic}; "" leaves it open

	MaxConns       int     // client connections in all; 0 = unlimited
	MaxConnsPerIP  int     // 0 = unlimited
	ConnRatePerIP  float64 // new connections per second per IP; 0 = unlimited
	MaxHeaderCount int     // header fields in a request head (431 above)

	StatsURI    string // stats page path on the admin listener
	StatsAuth   string // "user:pass" for basic auth; "" = no auth
	StatsTopics int    // topics shown on the stats page, by subscribers

	EventLoops int // 0: one per CPU
	ReusePort  bool

	AccessLog accesslog.Config // -access-log*, -request-id-*: access log and request IDs (package accesslog)

	// Hardening of the WebSocket path (issue 11).
	MessageTimeout  time.Duration // a message begun must be complete within this (close 1008 after it)
	MaxInflateRatio int           // a compressed message may inflate at most this many times its size (close 1009); 0: no bound

	TLS tlscert.Options // -tls-listen, -tls-cert, -tls-min-version: TLS termination (package tlscert)
}

// tick is the timing wheel's granularity: timeouts fire up to one tick late.
const tick = 100 * time.Millisecond

// lingerTicks is how long a connection we are closing may take to read our
// last bytes and close its side before we drop it.
const lingerTicks = 20

// Validate returns every problem in c, one per line in the joined error.
func (c *Config) Validate() error {
	var errs []error
	switch _, _, err := net.SplitHostPort(c.Listen); {
	case c.Listen == "" && c.TLS.Enabled(): // TLS only
	case c.Listen == "":
		errs = append(errs, errors.New("-listen: empty, and no -tls-listen: no client listener"))
	case err != nil:
		errs = append(errs, fmt.Errorf("-listen: %q: want [HOST]:PORT", c.Listen))
	}
	if c.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
			errs = append(errs, fmt.Errorf("-admin-listen: %q: want [HOST]:PORT", c.AdminListen))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"-handshake-timeout", c.HandshakeTimeout}, {"-ping-interval", c.PingInterval}, {"-idle-timeout", c.IdleTimeout}} {
		if d.v < tick {
			errs = append(errs, fmt.Errorf("%s: %v is below the timer granularity %v", d.name, d.v, tick))
		}
	}
	if c.PingInterval >= c.IdleTimeout {
		errs = append(errs, fmt.Errorf("-ping-interval: %v must be shorter than -idle-timeout %v, or idle peers are closed before they are pinged", c.PingInterval, c.IdleTimeout))
	}
	if c.MaxHeaderBytes < 512 {
		errs = append(errs, fmt.Errorf("-max-header-bytes: %d is too small (minimum 512)", c.MaxHeaderBytes))
	}
	if c.MaxConns < 0 || c.MaxConnsPerIP < 0 || c.ConnRatePerIP < 0 {
		errs = append(errs, errors.New("-max-conns, -max-conns-per-ip, -conn-rate-per-ip: must be >= 0"))
	}
	if c.MaxHeaderCount < 1 {
		errs = append(errs, fmt.Errorf("-max-header-count: %d must be at least 1", c.MaxHeaderCount))
	}
	if c.MaxMessageBytes < 125 {
		errs = append(errs, fmt.Errorf("-max-message-bytes: %d is too small (minimum 125)", c.MaxMessageBytes))
	}
	if c.MaxOutbound < c.MaxMessageBytes {
		errs = append(errs, fmt.Errorf("-max-outbound: %d must be at least -max-message-bytes %d, or one message closes every subscriber", c.MaxOutbound, c.MaxMessageBytes))
	}
	if c.EventLoops < 0 {
		errs = append(errs, fmt.Errorf("-event-loops: %d must be >= 0", c.EventLoops))
	}
	if err := c.Routing.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MessageTimeout < tick {
		errs = append(errs, fmt.Errorf("-message-timeout: %v is below the timer granularity %v", c.MessageTimeout, tick))
	}
	if c.MaxInflateRatio < 0 {
		errs = append(errs, fmt.Errorf("-max-inflate-ratio: %d must be >= 0", c.MaxInflateRatio))
	}
	if c.ClientTimeout < tick {
		errs = append(errs, fmt.Errorf("-client-timeout: %v is below the timer granularity %v", c.ClientTimeout, tick))
	}
	return errors.Join(errs...)
}
