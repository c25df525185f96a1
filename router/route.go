// Package router decides where a request goes: the route table maps a Host and
// a path prefix to a broadcast topic (or, later, a backend pool). It knows no
// sockets and no gnet types, so it is tested with plain values.
package router

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
)

// TargetKind says what a route leads to.
type TargetKind uint8

const (
	// TargetTopic is a built-in broadcast topic.
	TargetTopic TargetKind = iota + 1
	// TargetBackend is a backend pool (proxied; see the load-balancing issue).
	TargetBackend
)

// Route is one `-route [HOST]PATH_PREFIX=KIND:NAME` entry.
type Route struct {
	Host   string // lower case, no port; "" matches any host
	Prefix string // starts with "/"
	Kind   TargetKind
	// Name is the topic or pool name. For a topic route with Name "*" the topic
	// is taken from the rest of the path after Prefix.
	Name string
	Spec string // the flag value as given, for logs and -check
}

// Wildcard reports whether the topic name comes from the request path.
func (r Route) Wildcard() bool { return r.Kind == TargetTopic && r.Name == "*" }

// ParseRoute parses a `-route` flag value.
func ParseRoute(spec string) (Route, error) {
	left, target, ok := strings.Cut(spec, "=")
	if !ok {
		return Route{}, fmt.Errorf("route %q: want [HOST]PATH_PREFIX=topic:NAME or backend:POOL", spec)
	}
	r := Route{Spec: spec}
	slash := strings.IndexByte(left, '/')
	if slash < 0 {
		return Route{}, fmt.Errorf("route %q: path prefix must start with /", spec)
	}
	r.Host, r.Prefix = normalizeHost(left[:slash]), left[slash:]
	if strings.ContainsAny(r.Prefix, "?# ") {
		return Route{}, fmt.Errorf("route %q: path prefix %q must not contain '?', '#' or spaces", spec, r.Prefix)
	}
	kind, name, ok := strings.Cut(target, ":")
	if !ok || name == "" {
		return Route{}, fmt.Errorf("route %q: target %q: want topic:NAME or backend:POOL", spec, target)
	}
	switch kind {
	case "topic":
		r.Kind = TargetTopic
	case "backend":
		r.Kind = TargetBackend
	default:
		return Route{}, fmt.Errorf("route %q: unknown target kind %q (want topic or backend)", spec, kind)
	}
	if strings.ContainsAny(name, "/ ") {
		return Route{}, fmt.Errorf("route %q: name %q must not contain '/' or spaces", spec, name)
	}
	r.Name = name
	return r, nil
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
