package backend

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/wsgate/wsgate/router/balance"
)

// MaxWeight is the largest server weight (HAProxy's limit).
const MaxWeight = 256

// Parse parses one `-backend` flag value:
//
//	POOL=SERVER[,SERVER...][;opt=val...]
//	SERVER = [NAME@]HOST:PORT[*WEIGHT]
//
// Server names default to s1, s2, … by position; weights default to 1.
// Options: balance=roundrobin|leastconn|source|uri|hdr:NAME|query:NAME,
// cookie=NAME, check=tcp|http:PATH|none, inter=DUR, rise=N, fall=N,
// maxconn=N, queue=N, connect-timeout=DUR, server-timeout=DUR,
// tunnel-timeout=DUR. Options not given come from def (the global flags),
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
	parts := strings.Split(rest, ";")
	if strings.TrimSpace(parts[0]) == "" {
		return fail("no servers")
	}
	var servers []*Server
	seen := map[string]string{}
	for i, item := range strings.Split(parts[0], ",") {
		s, err := parseServer(strings.TrimSpace(item), i)
		if err != nil {
			return fail("server %q: %v", item, err)
		}
		if prev, dup := seen[s.Name]; dup {
			return fail("server %q: duplicate name %q (also %q)", item, s.Name, prev)
		}
		seen[s.Name] = item
		servers = append(servers, s)
	}
	opts, err := parseOptions(parts[1:], def)
	if err != nil {
		return fail("%v", err)
	}
	p, err := NewPool(name, servers, opts)
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

func parseOptions(opts []string, def Options) (Options, error) {
	o := def
	seen := map[string]bool{}
	for _, kv := range opts {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue // tolerate a trailing ';'
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok && strings.Contains(kv, ":") {
			return o, fmt.Errorf("option %q: want opt=val (separate servers with ',')", kv)
		}
		if !ok || v == "" {
			return o, fmt.Errorf("option %q: want opt=val", kv)
		}
		if seen[k] {
			return o, fmt.Errorf("option %q given twice", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "balance":
			if _, err = balance.ParseMethod(v); err == nil {
				o.Balance = v
			}
		case "cookie":
			if err = checkCookieName(v); err == nil {
				o.Cookie = v
			}
		case "check":
			o.Check, err = ParseCheck(v)
		case "inter":
			o.Inter, err = parseDuration(k, v)
		case "connect-timeout":
			o.ConnectTimeout, err = parseDuration(k, v)
		case "server-timeout":
			o.ServerTimeout, err = parseDuration(k, v)
		case "tunnel-timeout":
			o.TunnelTimeout, err = parseDuration(k, v)
		case "rise":
			o.Rise, err = parseInt(k, v, 1)
		case "fall":
			o.Fall, err = parseInt(k, v, 1)
		case "maxconn":
			o.MaxConn, err = parseInt(k, v, 0)
		case "queue":
			o.Queue, err = parseInt(k, v, 0)
		default:
			err = fmt.Errorf("unknown option %q (want balance, cookie, check, inter, rise, fall, maxconn, queue, connect-timeout, server-timeout or tunnel-timeout)", k)
		}
		if err != nil {
			return o, err
		}
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
