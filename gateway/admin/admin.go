// Package admin serves a gateway's admin listener: /healthz, /metrics, the
// stats page, the publish and servers APIs, and pprof. It is plain net/http
// on its own goroutines, away from the event loops, and reads the gateway
// through a small interface (Gateway) and the router.
package admin

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/tlscert"
	"github.com/wsgate/wsgate/router"
)

// Config is the part of the gateway's configuration the admin listener reads.
type Config struct {
	StatsURI        string // stats page path; "" = no page
	StatsAuth       string // "user:pass" guarding every path but /healthz; "" = no auth
	StatsTopics     int    // topics shown on the stats page, by subscribers
	PublishToken    string // bearer token of the publish and servers APIs; "" leaves them to StatsAuth
	MaxMessageBytes int    // the largest body the publish API takes
}

// Gateway is what the admin listener reads from the gateway it serves.
type Gateway interface {
	// Counts are the client connections open and the topic subscriptions now.
	Counts() (connections, subscribers int64)
	// Draining says whether a graceful stop is under way.
	Draining() bool
	// Topics merges the topics of every event loop; when ctx ends it returns
	// what it has.
	Topics(ctx context.Context) map[string]TopicCount
	// Users lists the token subjects with the most connections first, at
	// most topN (empty without JWT routes).
	Users(topN int) []UserStats
	// MayPublish reports whether r carries a JWT whose publish claim names
	// topic (the publish API's second way in, beside the operator's token).
	MayPublish(r *http.Request, topic string) bool
}

// UserStats is one user (a token's sub) on the stats page.
type UserStats struct {
	Sub         string `json:"sub"`
	Connections int    `json:"connections"`
}

// TopicCount is one topic's figures in the whole gateway: subscribers on
// every loop, and the messages delivered so far.
type TopicCount struct {
	Subscribers int
	Messages    uint64
}

// Options are the listener's configuration and what it serves from.
type Options struct {
	Config
	Router        *router.Router      // routes and pools (stats page), server states (/v1/servers)
	Bus           router.Bus          // the publish API's way in; a router.BusStatuser's status shows too
	PublishErrors prometheus.Counter  // publishes the bus refused
	Gatherer      prometheus.Gatherer // what /metrics serves
	Log           *slog.Logger
	Start         time.Time        // the stats page's uptime counts from it
	TLS           func() *TLSStats // the TLS listener for the stats page; nil without one
}

// TLSStats is the TLS listener on the stats page (its ?json form).
type TLSStats struct {
	Listen      string             `json:"listen"`
	Connections int64              `json:"connections"`
	Certs       []tlscert.CertInfo `json:"certs"` // NotAfter: expiry
}

// Server is the admin listener's state.
type Server struct {
	cfg           Config
	gw            Gateway
	router        *router.Router
	bus           router.Bus
	publishErrors prometheus.Counter
	gatherer      prometheus.Gatherer
	log           *slog.Logger
	start         time.Time
	tls           func() *TLSStats
	rates         statsRates
}

// New returns the admin listener of gw.
func New(gw Gateway, o Options) *Server {
	return &Server{cfg: o.Config, gw: gw, router: o.Router, bus: o.Bus, publishErrors: o.PublishErrors,
		gatherer: o.Gatherer, log: o.Log, start: o.Start, tls: o.TLS}
}

// Handler serves the admin listener: health, metrics and profiles.
//
// Without -stats-auth everything here is open: the listener binds loopback by
// default, where only local processes (Prometheus' agent, an operator's curl)
// reach it. With -stats-auth, everything but /healthz needs those
// credentials (load balancers probe /healthz without any); the publish API
// also takes its -publish-token.
func (g *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if g.gw.Draining() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("draining\n"))
			return
		}
		// A degraded bus still serves local clients: report it, stay 200.
		if s, ok := g.bus.(router.BusStatuser); ok {
			if healthy, detail := s.Status(); !healthy {
				_, _ = w.Write([]byte("ok\nbus: degraded: " + detail + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/v1/publish/{topic...}", g.publishHandler())
	mux.Handle("/publish/", g.pushpinPublishHandler()) // Pushpin's publish format (pushpin.go)
	if g.cfg.StatsURI != "" {
		mux.Handle(g.cfg.StatsURI, g.statsHandler())
	}
	mux.Handle("/v1/servers", g.serversHandler())
	mux.Handle("/v1/servers/", g.serversHandler())
	mux.Handle("/metrics", promhttp.HandlerFor(g.gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", g.cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return g.adminAuth(mux)
}

// adminAuth puts every admin path but /healthz behind -stats-auth when it is
// set. The publish API checks its own credentials (its bearer token, or these).
func (g *Server) adminAuth(next http.Handler) http.Handler {
	if g.cfg.StatsAuth == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || strings.HasPrefix(r.URL.Path, "/v1/publish/") || r.URL.Path == "/publish/" || g.statsAuthorized(r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="wsgate"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
	})
}

// cmdline serves /debug/pprof/cmdline like net/http/pprof, but with the
// values of secret flags, and any secret value wherever it appears, replaced:
// the page must not hand out the credentials that guard it.
func (g *Server) cmdline(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(strings.Join(redactArgs(os.Args, g.secrets()), "\x00")))
}

// secretFlags take a credential as their value: -jwt-key carries an HS256
// secret (hs256:BASE64), and a -jwt-jwks URL may carry credentials in its
// user info or query.
var secretFlags = []string{"publish-token", "stats-auth", "jwt-key", "jwt-jwks"}

// secrets are the credential values in use (from flags, WSGATE_* or -config).
func (g *Server) secrets() []string {
	var s []string
	if g.cfg.PublishToken != "" {
		s = append(s, g.cfg.PublishToken)
	}
	if g.cfg.StatsAuth != "" {
		s = append(s, g.cfg.StatsAuth)
		if _, pass, ok := strings.Cut(g.cfg.StatsAuth, ":"); ok && pass != "" {
			s = append(s, pass)
		}
	}
	return s
}

const redacted = "[REDACTED]"

// redactArgs returns a copy of args in which the value of every secret flag
// (-name value, -name=value, --name...) and every other value containing a
// secret are replaced.
func redactArgs(args, secrets []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	hasSecret := func(v string) bool {
		for _, s := range secrets {
			if s != "" && strings.Contains(v, s) {
				return true
			}
		}
		return false
	}
	for i := 1; i < len(out); i++ {
		a := out[i]
		if !strings.HasPrefix(a, "-") {
			if hasSecret(a) {
				out[i] = redacted
			}
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case hasValue && (isSecretFlag(name) || hasSecret(value)):
			out[i] = a[:strings.IndexByte(a, '=')+1] + redacted
		case !hasValue && isSecretFlag(name) && i+1 < len(out):
			i++
			out[i] = redacted
		}
	}
	return out
}

func isSecretFlag(name string) bool {
	for _, f := range secretFlags {
		if name == f {
			return true
		}
	}
	return false
}

// authCredentials splits an Authorization header into its scheme and
// credentials. The scheme is compared case-insensitively (RFC 9110 11.1:
// "Bearer", "bearer" and "BEARER" are the same), and one or more spaces may
// separate the two.
func authCredentials(r *http.Request, scheme string) (string, bool) {
	got, rest, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !codec.ASCIIEqualFold(got, scheme) {
		return "", false
	}
	return strings.TrimLeft(rest, " "), true
}
