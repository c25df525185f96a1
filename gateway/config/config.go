// Package config is the gateway's configuration (gateway.Config is this
// Config): plain data that cmd/wsgate and the options package fill from
// flags, and its validation. It knows nothing of sockets or event loops.
package config

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/tlscert"
	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/auth"
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

	// BroadcastCoalesce: a loop drains its broadcast inbox at most once per
	// this long, so a busy topic's messages reach each subscriber several per
	// write(2) (fanout.go). 0: every message at once (latency first).
	BroadcastCoalesce time.Duration

	MaxTopicsPerConn int // GRIP channels one connection may be on (0: gateway.DefaultMaxTopicsPerConn)

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

	// Lossless resume (wsgate.v1, gateway/v1.go): the per-topic history.
	HistorySize       int           // messages kept per topic; 0: off
	HistoryTTL        time.Duration // entries expire after this; 0: never
	HistoryMaxBytes   int64         // bytes of all topics' history together; 0: no bound
	ResumeMaxMessages int           // a resume missing more messages than this is recovered:false; 0: no limit
	ResumeFetches     int           // Kafka catch-ups running at once per node (more wait in a queue); 0: memory only
	ResumeFetchTime   time.Duration // a Kafka catch-up taking longer answers recovered:false
	ResumeRate        int64         // recovered bytes per second a node writes at most; 0: no bound

	TLS tlscert.Options // -tls-listen, -tls-cert, -tls-min-version: TLS termination (package tlscert)

	// JWT is access control's -jwt-* and -max-conns-per-user flags (gateway/auth.go).
	JWT auth.Config
	// AuthTimeout bounds an auth=request subrequest (queue, connect, answer): 503 after it.
	AuthTimeout time.Duration
}

// Tick is the gateway's timing wheel granularity: timeouts fire up to one
// tick late, so none may be shorter.
const Tick = 100 * time.Millisecond

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
		if d.v < Tick {
			errs = append(errs, fmt.Errorf("%s: %v is below the timer granularity %v", d.name, d.v, Tick))
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
	if c.BroadcastCoalesce < 0 || c.BroadcastCoalesce > time.Second {
		errs = append(errs, fmt.Errorf("-broadcast-coalesce: %v must be between 0 and 1s", c.BroadcastCoalesce))
	}
	if err := c.Routing.Validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateAuth()...)
	if c.AuthTimeout <= 0 {
		errs = append(errs, fmt.Errorf("-auth-timeout: %v must be positive", c.AuthTimeout))
	}
	if c.MessageTimeout < Tick {
		errs = append(errs, fmt.Errorf("-message-timeout: %v is below the timer granularity %v", c.MessageTimeout, Tick))
	}
	if c.MaxInflateRatio < 0 {
		errs = append(errs, fmt.Errorf("-max-inflate-ratio: %d must be >= 0", c.MaxInflateRatio))
	}
	if c.HistorySize < 0 || c.HistoryTTL < 0 || c.HistoryMaxBytes < 0 || c.ResumeMaxMessages < 0 || c.MaxTopicsPerConn < 0 || c.ResumeFetches < 0 || c.ResumeFetchTime < 0 || c.ResumeRate < 0 {
		errs = append(errs, errors.New("-history-size, -history-ttl, -history-max-bytes, -resume-max-messages, -resume-kafka-fetches, -resume-kafka-timeout, -resume-rate, -max-topics-per-conn: must be >= 0"))
	}
	if c.ClientTimeout < Tick {
		errs = append(errs, fmt.Errorf("-client-timeout: %v is below the timer granularity %v", c.ClientTimeout, Tick))
	}
	return errors.Join(errs...)
}

// RestartOnly lists the settings that differ between a and b but are only
// read at start: a reload reports them and does not apply them. Everything in
// Routing is applied by a reload.
func RestartOnly(a, b *Config) []string {
	var out []string
	check := func(name string, differ bool) {
		if differ {
			out = append(out, name)
		}
	}
	check("-listen", a.Listen != b.Listen)
	check("-admin-listen", a.AdminListen != b.AdminListen)
	check("-event-loops", a.EventLoops != b.EventLoops)
	check("-reuseport", a.ReusePort != b.ReusePort)
	check("-handshake-timeout", a.HandshakeTimeout != b.HandshakeTimeout)
	check("-ping-interval", a.PingInterval != b.PingInterval)
	check("-idle-timeout", a.IdleTimeout != b.IdleTimeout)
	check("-max-message-bytes", a.MaxMessageBytes != b.MaxMessageBytes)
	check("-broadcast-coalesce", a.BroadcastCoalesce != b.BroadcastCoalesce)
	check("-compression", a.Compression != b.Compression)
	check("-jwt-* / -max-conns-per-user", !a.JWT.Equal(&b.JWT))
	check("-tls-listen", a.TLS.Listen != b.TLS.Listen)
	check("-tls-min-version", a.TLS.MinVersion != b.TLS.MinVersion)
	check("-auth-timeout", a.AuthTimeout != b.AuthTimeout)
	check("-history-size / -history-ttl / -history-max-bytes", a.HistorySize != b.HistorySize || a.HistoryTTL != b.HistoryTTL || a.HistoryMaxBytes != b.HistoryMaxBytes)
	check("-resume-max-messages / -resume-kafka-fetches / -resume-kafka-timeout / -resume-rate",
		a.ResumeMaxMessages != b.ResumeMaxMessages || a.ResumeFetches != b.ResumeFetches || a.ResumeFetchTime != b.ResumeFetchTime || a.ResumeRate != b.ResumeRate)
	return out
}

// validateAuth is the access-control part of Config.Validate: the -jwt-*
// flags, and each route's auth= against them.
func (c *Config) validateAuth() []error {
	var errs []error
	if err := c.JWT.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, s := range c.Routing.Routes {
		r, err := router.ParseRoute(s)
		if err != nil {
			continue // Routing.Validate reports it
		}
		switch {
		case r.Auth == router.AuthJWT && !c.JWT.Enabled():
			errs = append(errs, fmt.Errorf("-route %q: auth=jwt needs -jwt-key or -jwt-jwks", s))
		}
	}
	return errs
}
