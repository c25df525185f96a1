package router

import (
	"errors"
	"fmt"
	"github.com/wsgate/wsgate/codec"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/wsgate/wsgate/router/spec"
)

// TargetKind says what a route leads to.
type TargetKind uint8

const (
	// TargetTopic is a built-in broadcast topic.
	TargetTopic TargetKind = iota + 1
	// TargetBackend is a backend pool (proxied; see the load-balancing issue).
	TargetBackend
)

// Route is one `-route [HOST]PATH_PREFIX=KIND:NAME[;opt=val...]` entry. It
// is plain data: parsing it starts nothing and a reload compares it by value.
type Route struct {
	Host   string // lower case, no port; "" matches any host
	Prefix string // starts with "/"
	Kind   TargetKind
	// Name is the topic or pool name. For a topic route with Name "*" the topic
	// is taken from the rest of the path after Prefix.
	Name string
	// Origins overrides -origins for the WebSocket upgrades of this route
	// (option origins=): "" keeps -origins, OriginsAny allows any Origin
	// (the backend decides), else a '|'-separated list of allowed values.
	// A string, not a slice, so a Route stays comparable.
	Origins string
	Spec    string // the flag value as given, for logs and -check

	// Access control (issue 13): who may publish on a topic route, and how
	// an upgrade or request is authenticated before it is served.
	Publish  PublishMode
	Auth     AuthMode
	AuthPool string // auth=request:POOL/PATH
	AuthPath string
	// AuthCache (auth-cache=DURATION) keeps an auth=request answer (2xx,
	// 401, 403) this long for the same credentials; 0 asks every time.
	AuthCache time.Duration
}

// OriginsAny is the Origins value of a route that allows any Origin.
const OriginsAny = "any"

// AllowsOrigin reports whether a WebSocket upgrade with this Origin value
// may go on: no Origin (not a browser) always may; otherwise the route's
// origins= list, or without one the gateway's list (global; empty: any).
// Values match exactly, case-insensitively (RFC 6454 serialisations).
func (r Route) AllowsOrigin(origin string, global []string) bool {
	switch {
	case origin == "" || r.Origins == OriginsAny:
		return true
	case r.Origins != "":
		for o := range strings.SplitSeq(r.Origins, "|") {
			if codec.ASCIIEqualFold(o, origin) {
				return true
			}
		}
		return false
	case len(global) == 0:
		return true
	}
	for _, o := range global {
		if codec.ASCIIEqualFold(o, origin) {
			return true
		}
	}
	return false
}

// PublishMode is a topic route's publish= option.
type PublishMode uint8

const (
	// PublishClients (default): every subscriber may publish to the topic.
	PublishClients PublishMode = iota
	// PublishNone: clients only receive, unless their token's publish claim
	// names the topic; publishing comes from the publish API or the bus.
	PublishNone
)

// AuthMode is a route's auth= option.
type AuthMode uint8

const (
	AuthNone    AuthMode = iota // default: anyone who reaches the route
	AuthJWT                     // a bearer JWT checked at the upgrade (or before a request is proxied)
	AuthRequest                 // a subrequest to AuthPool/AuthPath decides (nginx auth_request)
)

// Wildcard reports whether the topic name comes from the request path.
func (r Route) Wildcard() bool { return r.Kind == TargetTopic && r.Name == "*" }

// ParseRoute parses a `-route` flag value. Options after the target follow
// the grammar of router/spec, shared with -backend; routeKeys lists them.
func ParseRoute(text string) (Route, error) {
	r, err := parseRoute(text)
	if err != nil {
		return Route{}, fmt.Errorf("route %q: %w", text, err)
	}
	return r, nil
}

func parseRoute(text string) (Route, error) {
	left, right, ok := strings.Cut(text, "=")
	if !ok {
		return Route{}, errors.New("want [HOST]PATH_PREFIX=topic:NAME or backend:POOL")
	}
	target, opts, err := spec.Cut(right)
	if err != nil {
		return Route{}, err
	}
	r := Route{Spec: text}
	slash := strings.IndexByte(left, '/')
	if slash < 0 {
		return Route{}, errors.New("path prefix must start with /")
	}
	r.Host, r.Prefix = normalizeHost(left[:slash]), left[slash:]
	if strings.ContainsAny(r.Prefix, "?# ") {
		return Route{}, fmt.Errorf("path prefix %q must not contain '?', '#' or spaces", r.Prefix)
	}
	kind, name, ok := strings.Cut(target, ":")
	if !ok || name == "" {
		return Route{}, fmt.Errorf("target %q: want topic:NAME or backend:POOL", target)
	}
	switch kind {
	case "topic":
		r.Kind = TargetTopic
	case "backend":
		r.Kind = TargetBackend
	default:
		return Route{}, fmt.Errorf("unknown target kind %q (want topic or backend)", kind)
	}
	if strings.ContainsAny(name, "/ ") {
		return Route{}, fmt.Errorf("name %q must not contain '/' or spaces", name)
	}
	r.Name = name
	if err := spec.Apply(opts, routeKeys(&r)); err != nil {
		return Route{}, err
	}
	if r.AuthCache > 0 && r.Auth != AuthRequest {
		return Route{}, errors.New("auth-cache= caches auth=request answers: it needs auth=request:POOL/PATH")
	}
	return r, nil
}

// isPathText reports whether p can go into a request line as a path: visible
// ASCII, no query, fragment or space (it is sent as GET /p HTTP/1.1).
func isPathText(p string) bool {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '?' || c == '#' {
			return false
		}
	}
	return true
}

// routeKeys are the options a route accepts, each setting a field of r.
func routeKeys(r *Route) []spec.Key {
	return []spec.Key{
		{Name: "origins", Set: func(v string) error {
			// origins=any, or origins=URL|URL: the Origin values a browser
			// sends ("https://app.example", no path), for WebSocket upgrades.
			if v == OriginsAny {
				r.Origins = v
				return nil
			}
			for o := range strings.SplitSeq(v, "|") {
				if o == "" || strings.ContainsAny(o, " \t,") {
					return fmt.Errorf("origins=%s: want any, or Origin values separated by '|'", v)
				}
			}
			r.Origins = v
			return nil
		}},
		{Name: "publish", Set: func(v string) error {
			if r.Kind != TargetTopic {
				return fmt.Errorf("publish=%s: only a topic route has publishers (a backend route proxies both directions)", v)
			}
			switch v {
			case "clients":
				r.Publish = PublishClients
			case "none":
				r.Publish = PublishNone
			default:
				return fmt.Errorf("publish=%s: want clients or none", v)
			}
			return nil
		}},
		{Name: "auth", Set: func(v string) error {
			switch {
			case v == "none":
				r.Auth = AuthNone
			case v == "jwt":
				r.Auth = AuthJWT
			case strings.HasPrefix(v, "request:"):
				pool, path, ok := strings.Cut(strings.TrimPrefix(v, "request:"), "/")
				if !ok || pool == "" || !isPathText(path) {
					return fmt.Errorf("auth=%s: want request:POOL/PATH", v)
				}
				r.Auth, r.AuthPool, r.AuthPath = AuthRequest, pool, "/"+path
			default:
				return fmt.Errorf("auth=%s: want none, jwt or request:POOL/PATH", v)
			}
			return nil
		}},
		{Name: "auth-cache", Set: func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("auth-cache=%s: want a positive duration (e.g. 30s)", v)
			}
			r.AuthCache = d
			return nil
		}},
	}
}

// Table is an immutable route table: longest prefix first, and among equal
// prefixes a route naming a host before one that does not; otherwise the
// order of the flags (first match wins).
type Table struct {
	routes []Route
}

// ErrDuplicateRoute is returned by NewTable for two routes with the same host and prefix.
var ErrDuplicateRoute = errors.New("duplicate route")

// NewTable builds a table from routes.
func NewTable(routes []Route) (*Table, error) {
	rs := append([]Route(nil), routes...)
	seen := make(map[string]string, len(rs))
	for _, r := range rs {
		key := r.Host + r.Prefix
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("%w: %q and %q", ErrDuplicateRoute, prev, r.Spec)
		}
		seen[key] = r.Spec
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if len(rs[i].Prefix) != len(rs[j].Prefix) {
			return len(rs[i].Prefix) > len(rs[j].Prefix)
		}
		return rs[i].Host != "" && rs[j].Host == ""
	})
	return &Table{routes: rs}, nil
}

// Routes returns the routes in match order.
func (t *Table) Routes() []Route { return t.routes }

// Match finds the route for a request's Host header and path (query already
// removed). For a wildcard topic route, topic is the path after the prefix;
// an empty wildcard topic does not match.
func (t *Table) Match(host, path string) (r Route, topic string, ok bool) {
	host = normalizeHost(host)
	for _, r := range t.routes {
		if r.Host != "" && r.Host != host {
			continue
		}
		rest, ok := matchPrefix(path, r.Prefix)
		if !ok {
			continue
		}
		switch {
		case r.Wildcard():
			topic = strings.Trim(rest, "/")
			if topic == "" {
				return Route{}, "", false
			}
			return r, topic, true
		case r.Kind == TargetTopic:
			return r, r.Name, true
		default:
			return r, "", true
		}
	}
	return Route{}, "", false
}

// matchPrefix matches prefix against path on segment boundaries: "/ws" matches
// "/ws" and "/ws/x" but not "/wsx"; a prefix ending in "/" matches anything under it.
func matchPrefix(path, prefix string) (rest string, ok bool) {
	if !strings.HasPrefix(path, prefix) {
		return "", false
	}
	rest = path[len(prefix):]
	if rest == "" || strings.HasSuffix(prefix, "/") || rest[0] == '/' {
		return rest, true
	}
	return "", false
}

// normalizeHost lower-cases a Host value and drops its port.
func normalizeHost(h string) string {
	if h == "" {
		return ""
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
}
