// Package options declares every wsgate flag in one place (with help text), reads
// them from the command line, WSGATE_* environment variables and a -config file,
// and turns them into a gateway.Config. cmd/wsgate and the in-process test
// harness both use it, so a test configures a gateway exactly as a user does.
package options

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/wsgate/wsgate/gateway"
	"github.com/wsgate/wsgate/router"
)

// envPrefix: every flag can also be set as WSGATE_<NAME> (upper case, '-' → '_').
// A flag given on the command line wins over the environment.
const envPrefix = "WSGATE_"

// defaultRoute applies when no -route is given: the built-in chat topic.
const defaultRoute = "/ws=topic:chat"

// Options are the parsed flags: one place declares them all, with help text.
type Options struct {
	cfg      gateway.Config
	routes   listFlag
	backends listFlag
	drain    listFlag
	origins  string
	subprots string
	logLevel string
	Check    bool
	file     string
	kafka    kafkaOptions // Kafka bus flags (options_kafka.go)
	tlsCerts listFlag     // -tls-cert: one CERT.pem[,KEY.pem] pair per value (package tlscert)
	jwtKeys  listFlag     // -jwt-key, repeatable
}

// listFlag is a repeatable flag. From the environment its values are separated by spaces.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func newFlagSet(o *Options) *flag.FlagSet {
	fs := flag.NewFlagSet("wsgate", flag.ContinueOnError)
	c := &o.cfg
	fs.StringVar(&c.Listen, "listen", ":8080", "client listener `address` (WebSocket and HTTP)")
	fs.StringVar(&c.AdminListen, "admin-listen", "127.0.0.1:9090", "admin listener `address` for /healthz, /metrics, /debug/pprof/ (\"\" disables)")
	fs.Var(&o.routes, "route", "route `[HOST]PATH_PREFIX=topic:NAME|backend:POOL[;opt=val...]`, repeatable; topic:* takes the topic from the rest of the path (default "+defaultRoute+"); route options: publish=clients|none, auth=none|jwt")
	fs.Var(&o.backends, "backend", "backend pool `POOL=[NAME@]HOST:PORT[*WEIGHT],...[;opt=val...]`, repeatable; options: balance=roundrobin|leastconn|source|uri|hdr:NAME|query:NAME, cookie=NAME, check=tcp|http:PATH, inter, rise, fall, maxconn, queue, connect-timeout, server-timeout, tunnel-timeout")
	fs.Var(&o.drain, "drain", "put server `POOL/SERVER` in drain at start (no new sessions, existing kept), repeatable")
	def, pd := router.DefaultPoolOptions(), &c.Routing.PoolDefaults
	fs.StringVar(&pd.Balance, "balance", def.Balance, "default balance `method` of pools")
	fs.DurationVar(&pd.ConnectTimeout, "connect-timeout", def.ConnectTimeout, "default time to connect to a server (then redispatch once, then 503)")
	fs.DurationVar(&pd.ServerTimeout, "server-timeout", def.ServerTimeout, "default time a server may take to answer an HTTP request or upgrade (504 after it)")
	fs.DurationVar(&pd.TunnelTimeout, "tunnel-timeout", def.TunnelTimeout, "default idle time of a WebSocket tunnel to a server, both directions silent")
	fs.DurationVar(&pd.Inter, "check-inter", def.Inter, "default interval of health checks")
	fs.IntVar(&pd.Rise, "check-rise", def.Rise, "default consecutive successful checks to mark a server up")
	fs.IntVar(&pd.Fall, "check-fall", def.Fall, "default consecutive failed checks (or connects) to mark a server down")
	fs.DurationVar(&c.ClientTimeout, "client-timeout", 30*time.Second, "time a client may stall while sending a proxied request body (408 after it)")
	fs.DurationVar(&c.DrainTime, "drain-time", 10*time.Second, "on SIGTERM/SIGINT, spread close 1001 to every client over this long, then exit (a second signal exits at once)")
	fs.StringVar(&c.DemoPath, "demo-path", "/", "`path` of the built-in chat page (\"\" disables)")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", 10*time.Second, "time allowed to send a complete request head (408 after it)")
	fs.DurationVar(&c.PingInterval, "ping-interval", 30*time.Second, "ping a WebSocket peer that has been silent this long")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 60*time.Second, "close (1001) a WebSocket peer silent this long, pongs included")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", 16384, "largest request head in `bytes` (431 above)")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", 4<<20, "largest WebSocket message in `bytes`, after reassembly and inflation (close 1009 above)")
	fs.IntVar(&c.MaxTopicsPerConn, "max-topics-per-conn", 64, "channels a GRIP backend may put one client session on; a subscribe over it is ignored, counted and logged")
	fs.IntVar(&c.MaxOutbound, "max-outbound", 16<<20, "unsent `bytes` a subscriber may have queued before it is closed as a slow consumer (1008)")
	fs.DurationVar(&c.BroadcastCoalesce, "broadcast-coalesce", 0, "deliver broadcasts at most once per this long per event loop, so a topic busier than that reaches each subscriber several messages per write(2): less CPU per delivery for up to this much added latency (0: each message at once)")
	fs.IntVar(&c.MaxConns, "max-conns", 0, "client connections in all; over it a new connection gets 503 and is closed (0: unlimited; the fd limit still applies)")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", 0, "client connections per source IP (0: unlimited)")
	fs.Float64Var(&c.ConnRatePerIP, "conn-rate-per-ip", 0, "new connections per second per source IP, with a burst of the same size (0: unlimited)")
	fs.IntVar(&c.MaxHeaderCount, "max-header-count", 100, "header fields in a request head (431 above)")
	fs.StringVar(&o.origins, "origins", "", "comma-separated allowed Origin values for every WebSocket upgrade, topic and proxied (a route's origins= overrides it); empty allows any (a request without Origin is allowed)")
	fs.StringVar(&o.subprots, "subprotocols", "", "comma-separated WebSocket subprotocols to accept, first one the client offers wins")
	fs.BoolVar(&c.Compression, "compression", false, "negotiate permessage-deflate (no context takeover: no compressor state per connection)")
	fs.StringVar(&c.PublishToken, "publish-token", "", "bearer `token` required by POST /v1/publish/{topic} on the admin listener (the -stats-auth credentials also do; empty and no -stats-auth: open, loopback only by default)")
	fs.StringVar(&c.StatsURI, "stats-uri", "/stats", "`path` of the stats page on the admin listener (HTML; ?json for JSON; \"\" disables)")
	fs.StringVar(&c.StatsAuth, "stats-auth", "", "`user:pass` for basic auth on everything on the admin listener but /healthz (empty: all open; the admin listener is on loopback by default)")
	fs.IntVar(&c.StatsTopics, "stats-topics", 50, "topics listed on the stats page, most subscribers first")
	fs.IntVar(&c.EventLoops, "event-loops", 0, "number of event loops (0: one per CPU)")
	fs.BoolVar(&c.ReusePort, "reuseport", false, "listen with SO_REUSEPORT so several wsgate processes share one port")
	// Hardening of the WebSocket path (issue 11).
	fs.DurationVar(&c.MessageTimeout, "message-timeout", 30*time.Second, "time a WebSocket message may take from its first byte to its last fragment (close 1008 after it)")
	fs.IntVar(&c.MaxInflateRatio, "max-inflate-ratio", 100, "with -compression, a message may inflate to at most this many times its compressed size (close 1009 above; 0: only -max-message-bytes bounds it)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.StringVar(&c.AccessLog.Output, "access-log", "off", "access log `stderr|stdout|FILE|off`: one line per HTTP request, WebSocket session and refused connection; SIGUSR1 reopens FILE (logrotate)")
	fs.StringVar(&c.AccessLog.Format, "access-log-format", "json", "access log `format`: json (one object per line) or text (close to HAProxy's httplog)")
	fs.IntVar(&c.AccessLog.Sample, "access-log-sample", 1, "log 1 in `N` successful requests and sessions; refusals and errors always")
	fs.StringVar(&c.AccessLog.RequestIDHeader, "request-id-header", "X-Request-Id", "request ID `header`: kept from trusted clients, else generated; forwarded to servers and logged (\"\" disables)")
	fs.StringVar(&c.AccessLog.RequestIDTrusted, "request-id-trusted", "", "comma-separated `CIDRs` whose own request ID is kept (default none: always generated)")
	// TLS termination (package tlscert loads and checks the certificates).
	// -tls-cert is a list of pairs, never of files: a certificate cannot
	// meet another one's key however flags, WSGATE_* and -config combine.
	fs.StringVar(&c.TLS.Listen, "tls-listen", "", "TLS client listener `address` serving the same routes, page and topics as -listen (\"\": off); needs -tls-cert")
	fs.Var(&o.tlsCerts, "tls-cert", "certificate `CERT.pem[,KEY.pem]`: PEM full chain, leaf first, and its private key (in CERT.pem when KEY.pem is not given, like HAProxy's crt); repeatable, one pair per flag (WSGATE_TLS_CERT: pairs separated by spaces); chosen by SNI from each certificate's names, the first is the default; SIGHUP re-reads the files")
	fs.StringVar(&c.TLS.MinVersion, "tls-min-version", "1.2", "lowest TLS `version` accepted: 1.2 or 1.3 (cipher suites are Mozilla's intermediate list, ALPN http/1.1)")
	kafkaFlags(fs, &o.kafka)
	resumeFlags(fs, c)
	// Access control (auth=jwt routes, the publish API's JWT bearers).
	jc := &c.JWT
	fs.Var(&o.jwtKeys, "jwt-key", "JWT verification `key`, repeatable: hs256:BASE64SECRET, or a PEM file with an RSA, ECDSA or Ed25519 public key")
	fs.StringVar(&jc.JWKS, "jwt-jwks", "", "`URL` of a JWK set, fetched at start (no start without it) and every -jwt-jwks-refresh")
	fs.DurationVar(&jc.JWKSRefresh, "jwt-jwks-refresh", 5*time.Minute, "interval of JWK set refreshes (an unknown kid refreshes at once, at most once a minute)")
	fs.StringVar(&jc.Issuer, "jwt-issuer", "", "required iss claim (empty: not checked)")
	fs.StringVar(&jc.Audience, "jwt-audience", "", "required aud claim (empty: not checked)")
	fs.StringVar(&jc.Cookie, "jwt-cookie", "", "`name` of a cookie carrying the token, after the Authorization header and the token query parameter")
	fs.DurationVar(&jc.ExpiryGrace, "jwt-expiry-grace", 0, "a session outlives its token's exp this long, then is closed with 1008")
	fs.DurationVar(&c.AuthTimeout, "auth-timeout", 2*time.Second, "time an auth=request subrequest may take (waiting for a slot, connect, answer head); 503 after it")
	fs.IntVar(&jc.MaxPerUser, "max-conns-per-user", 0, "WebSocket sessions per token sub (429 above; 0: unlimited)")
	fs.StringVar(&o.file, "config", "", "configuration `file`: one flag per line, \"name value\" (e.g. \"route /ws=topic:chat\"), # comments; command-line flags and WSGATE_* win over it; SIGHUP re-reads it")
	fs.BoolVar(&o.Check, "check", false, "validate the configuration, print what would run, and exit (0 valid, 1 invalid)")
	return fs
}

// Parse reads flags, then fills what was not given from the environment (env
// looks a variable up; nil means none) and the -config file. It returns nil
// Options only for command-line syntax errors (flag has printed usage).
func Parse(args []string, env func(string) (string, bool)) (*Options, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	o := &Options{}
	fs := newFlagSet(o)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		v, ok := env(envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_")))
		if !ok {
			return
		}
		given[f.Name] = true
		if _, isList := f.Value.(*listFlag); isList {
			for _, item := range strings.Fields(v) {
				_ = f.Value.Set(item)
			}
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("-%s (from %s%s): %w", f.Name, envPrefix, strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_")), err))
		}
	})
	if o.file != "" {
		if err := applyFile(fs, o.file, given); err != nil {
			errs = append(errs, err)
		}
	}
	return o, errors.Join(errs...)
}

// applyFile sets, from a configuration file, every flag that neither the
// command line nor the environment set. Each line is "name value"; a
// repeatable flag may appear on several lines.
func applyFile(fs *flag.FlagSet, path string, given map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("-config: %w", err)
	}
	var errs []error
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		name = strings.TrimLeft(name, "-")
		value = strings.TrimSpace(value)
		where := fmt.Sprintf("%s:%d", path, i+1)
		f := fs.Lookup(name)
		switch {
		case f == nil:
			errs = append(errs, fmt.Errorf("%s: unknown setting %q", where, name))
			continue
		case name == "config" || name == "check":
			errs = append(errs, fmt.Errorf("%s: %q cannot be set from the file", where, name))
			continue
		case given[name]:
			continue
		}
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool && value == "" {
			value = "true"
		}
		if err := f.Value.Set(value); err != nil {
			errs = append(errs, fmt.Errorf("%s: -%s %q: %w", where, name, value, err))
		}
	}
	return errors.Join(errs...)
}

// Config turns the options into a gateway.Config, reporting every problem.
func (o *Options) Config() (gateway.Config, error) {
	var errs []error
	routes := o.routes
	if len(routes) == 0 {
		routes = listFlag{defaultRoute}
	}
	// Specs are parsed and checked by the router (Validate below), in one
	// place for -check, start and reload.
	o.cfg.Routing.Routes = routes
	o.cfg.Routing.Backends = o.backends
	o.cfg.Routing.Drain = o.drain
	o.cfg.JWT.Keys = o.jwtKeys
	o.cfg.Origins = splitList(o.origins)
	o.cfg.Subprotocols = splitList(o.subprots)
	if _, err := o.Level(); err != nil {
		errs = append(errs, err)
	}
	if err := o.kafka.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := o.cfg.AccessLog.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := o.cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	o.cfg.TLS.Certs = o.tlsCerts
	if err := o.cfg.TLS.Validate(); err != nil { // reads and checks every certificate file
		errs = append(errs, err)
	}
	if o.cfg.TLS.Listen != "" && o.cfg.TLS.Listen == o.cfg.Listen {
		errs = append(errs, fmt.Errorf("-tls-listen: %q is also -listen: give each its own port", o.cfg.TLS.Listen))
	}
	return o.cfg, errors.Join(errs...)
}

// Level is the -log-level flag as a slog level.
func (o *Options) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(o.logLevel)); err != nil {
		return 0, fmt.Errorf("-log-level: %q: want debug, info, warn or error", o.logLevel)
	}
	return l, nil
}

func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// EnvLookup reads the process environment (for Parse).
func EnvLookup(name string) (string, bool) { return os.LookupEnv(name) }
