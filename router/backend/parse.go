package backend

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/wsgate/wsgate/router/balance"
	"github.com/wsgate/wsgate/router/spec"
)

// MaxWeight is the largest server weight (HAProxy's limit).
const MaxWeight = 256

// Parse parses one `-backend` flag value:
//
//	POOL=SERVER[,SERVER...][;opt=val...]
//	SERVER = [NAME@]HOST:PORT[*WEIGHT]
//
// The options follow the grammar of router/spec, shared with routes.
//
// Server names default to s1, s2, … by position; weights default to 1.
// Options: balance=roundrobin|leastconn|source|uri|hdr:NAME|query:NAME,
// cookie=NAME, check=tcp|http:PATH|none, inter=DUR, rise=N, fall=N,
// maxconn=N, queue=N, connect-timeout=DUR, server-timeout=DUR,
// tunnel-timeout=DUR, and the switch grip (GRIP upgrades). Options not given come from def (the global flags),
// and fields def leaves zero from DefaultOptions. Errors name the pool and
// the bad part, as `wsgate -check` prints them.
func Parse(spec string, def Options) (*Pool, error) {
	name, rest, ok := strings.Cut(spec, "=")
	if !ok {
		return nil, fmt.Errorf("backend %q: want POOL=SERVER[,SERVER...][;opt=val...]", spec)
	}
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("backend %q: pool name %w", spec, err)
	}
	fail := func(format string, a ...any) (*Pool, error) {
		return nil, fmt.Errorf("backend %q: "+format, append([]any{name}, a...)...)
	}
	servers, items, _ := strings.Cut(rest, ";")
	if strings.TrimSpace(servers) == "" {
		return fail("no servers")
	}
	var list []*Server
	seen := map[string]string{}
	for i, item := range strings.Split(servers, ",") {
		s, err := parseServer(strings.TrimSpace(item), i)
		if err != nil {
			return fail("server %q: %v", item, err)
		}
		if prev, dup := seen[s.Name]; dup {
			return fail("server %q: duplicate name %q (also %q)", item, s.Name, prev)
		}
		seen[s.Name] = item
		list = append(list, s)
	}
	opts, err := parseOptions(items, def)
	if err != nil {
		return fail("%v", err)
	}
	p, err := NewPool(name, list, opts)
	if err != nil {
		return nil, err
	}
	p.Spec = spec
	return p, nil
}

func parseServer(item string, i int) (*Server, error) {
	if item == "" {
		return nil, fmt.Errorf("empty entry (stray ',')")
	}
	s := &Server{Name: "s" + strconv.Itoa(i+1), Weight: 1}
	if n, addr, ok := strings.Cut(item, "@"); ok {
		if err := checkName(n); err != nil {
			return nil, fmt.Errorf("name %w", err)
		}
		s.Name, item = n, addr
	}
	if addr, w, ok := strings.Cut(item, "*"); ok {
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 || n > MaxWeight {
			return nil, fmt.Errorf("weight %q: want an integer 0-%d", w, MaxWeight)
		}
		s.Weight, item = n, addr
	}
	if item == "" {
		return nil, fmt.Errorf("missing address")
	}
	host, port, err := net.SplitHostPort(item)
	if err != nil {
		return nil, fmt.Errorf("address %q: want HOST:PORT", item)
	}
	if host == "" {
		return nil, fmt.Errorf("address %q: missing host", item)
	}
	if strings.ContainsAny(host, " \t/?#@") {
		return nil, fmt.Errorf("address %q: bad host %q", item, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("address %q: port %q: want 1-65535", item, port)
	}
	s.Addr = item
	return s, nil
}

// checkName accepts names that are safe as a cookie value, in "pool/server"
// references and in logs: letters, digits, '-', '_', '.'.
func checkName(n string) error {
	if n == "" {
		return fmt.Errorf("is empty")
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%q: use letters, digits, '-', '_' and '.'", n)
		}
	}
	return nil
}

// parseOptions applies a pool's options (the grammar of router/spec) over def.
func parseOptions(items string, def Options) (Options, error) {
	o := def
	opts, err := spec.Parse(items)
	if err != nil {
		var ie *spec.ItemError
		if errors.As(err, &ie) && strings.Contains(ie.Item, ":") && !strings.Contains(ie.Item, "=") {
			return o, fmt.Errorf("%w (separate servers with ',')", err)
		}
		return o, err
	}
	duration := func(k string, dst *time.Duration) spec.Key {
		return spec.Key{Name: k, Set: func(v string) (err error) { *dst, err = parseDuration(k, v); return err }}
	}
	integer := func(k string, lo int, dst *int) spec.Key {
		return spec.Key{Name: k, Set: func(v string) (err error) { *dst, err = parseInt(k, v, lo); return err }}
	}
	err = spec.Apply(opts, []spec.Key{
		{Name: "balance", Set: func(v string) error {
			if _, err := balance.ParseMethod(v); err != nil {
				return err
			}
			o.Balance = v
			return nil
		}},
		{Name: "cookie", Set: func(v string) error {
			if err := checkCookieName(v); err != nil {
				return err
			}
			o.Cookie = v
			return nil
		}},
		{Name: "check", Set: func(v string) (err error) { o.Check, err = ParseCheck(v); return err }},
		duration("inter", &o.Inter),
		integer("rise", 1, &o.Rise),
		integer("fall", 1, &o.Fall),
		integer("maxconn", 0, &o.MaxConn),
		integer("queue", 0, &o.Queue),
		duration("connect-timeout", &o.ConnectTimeout),
		duration("server-timeout", &o.ServerTimeout),
		duration("tunnel-timeout", &o.TunnelTimeout),
		{Name: "grip", Switch: true, Set: func(string) error { o.Grip = true; return nil }},
	})
	if err != nil {
		return o, err
	}
	if o.Queue > 0 && o.MaxConn == 0 {
		return o, fmt.Errorf("queue=%d needs maxconn (sessions only wait for a server at its maxconn)", o.Queue)
	}
	return o, nil
}

func parseDuration(k, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%s: want a duration such as 2s or 500ms", k, v)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s=%s: must be positive", k, v)
	}
	return d, nil
}

func parseInt(k, v string, lo int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo {
		return 0, fmt.Errorf("%s=%s: want an integer >= %d", k, v, lo)
	}
	return n, nil
}

// checkCookieName accepts an RFC 6265 cookie-name (an RFC 7230 token).
func checkCookieName(v string) error {
	for _, c := range v {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return fmt.Errorf("cookie=%s: not a valid cookie name", v)
		}
	}
	return nil
}
