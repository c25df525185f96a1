// Package balance chooses a server of a pool for a new session. It mirrors
// HAProxy's src/lb_*.c layout: one file per algorithm behind one small
// interface, so each algorithm can be read, tested and replaced alone.
//
//   - roundrobin.go: smooth weighted round robin (nginx's algorithm), exact
//     weight ratios with the picks of a heavy server spread out, not bunched.
//   - leastconn.go: fewest current sessions per unit of weight, ties broken
//     round-robin — for long-lived WebSocket sessions, where request counts
//     say little about load.
//   - chash.go: consistent hashing on a key (source IP, URI, header, query
//     parameter) over a ring with virtual nodes in proportion to weight. The
//     hash is a fixed function (FNV-1a 64 + a 64-bit finaliser), never a
//     per-process seeded one, so every gateway node maps a key to the same
//     server with no shared state, and adding one server to N-1 moves only
//     about 1/N of the keys, all to the new server.
//
// The package knows no sockets and no backend types: a balancer sees its pool
// through Set, the indexed, fixed-size view of the servers with their live
// availability and load, so the algorithms are tested with plain fakes.
package balance

import (
	"fmt"
	"strings"
)

// Set is a balancer's view of a pool. Its size, weights and IDs never change
// (a reload builds a new pool); Usable and Load are read live on every Pick and
// must be safe for concurrent use.
type Set interface {
	// Len is the number of servers.
	Len() int
	// Weight is server i's weight; a server of weight 0 is never chosen.
	Weight(i int) int
	// ID is server i's stable identity on the hash ring (its name), the same
	// on every gateway node that has the same configuration.
	ID(i int) string
	// Usable reports whether server i may take a new session now (it is up
	// and below its connection limit).
	Usable(i int) bool
	// Load is server i's current number of sessions.
	Load(i int) int64
}

// Balancer picks a server for a new session. Pick returns an index into the
// Set, or -1 when no server is usable. key is the hash key for the hashing
// methods ("" falls back to round robin) and is ignored by the others.
// Implementations are safe for concurrent use.
type Balancer interface {
	Pick(key string) int
}

// Kind is a balancing algorithm.
type Kind uint8

// The algorithms, named as in HAProxy's `balance` keyword.
const (
	RoundRobin Kind = iota + 1 // roundrobin
	LeastConn                  // leastconn
	Source                     // source: hash of the client IP
	URI                        // uri: hash of the path (before '?')
	Header                     // hdr:NAME: hash of a request header
	Query                      // query:NAME: hash of a query parameter (HAProxy's url_param)
)

// Method is a parsed `balance=` value.
type Method struct {
	Kind Kind
	Arg  string // header or query parameter name for Header and Query
}

// Hashed reports whether the method hashes a key (and so needs one).
func (m Method) Hashed() bool { return m.Kind >= Source }

func (m Method) String() string {
	switch m.Kind {
	case RoundRobin:
		return "roundrobin"
	case LeastConn:
		return "leastconn"
	case Source:
		return "source"
	case URI:
		return "uri"
	case Header:
		return "hdr:" + m.Arg
	case Query:
		return "query:" + m.Arg
	}
	return fmt.Sprintf("Kind(%d)", m.Kind)
}

// ParseMethod parses roundrobin, leastconn, source, uri, hdr:NAME or query:NAME.
// Header names are canonicalised to lower case (header lookups are
// case-insensitive); query parameter names are kept as given.
func ParseMethod(s string) (Method, error) {
	kind, arg, hasArg := strings.Cut(s, ":")
	switch kind {
	case "roundrobin", "leastconn", "source", "uri":
		if hasArg {
			return Method{}, fmt.Errorf("balance %q: %s takes no argument", s, kind)
		}
		return Method{Kind: map[string]Kind{"roundrobin": RoundRobin, "leastconn": LeastConn, "source": Source, "uri": URI}[kind]}, nil
	case "hdr", "query":
		if arg == "" {
			return Method{}, fmt.Errorf("balance %q: want %s:NAME", s, kind)
		}
		if strings.ContainsAny(arg, " \t\r\n:;,=") {
			return Method{}, fmt.Errorf("balance %q: bad %s name %q", s, kind, arg)
		}
		if kind == "hdr" {
			return Method{Kind: Header, Arg: strings.ToLower(arg)}, nil
		}
		return Method{Kind: Query, Arg: arg}, nil
	}
	return Method{}, fmt.Errorf("balance %q: unknown method (want roundrobin, leastconn, source, uri, hdr:NAME or query:NAME)", s)
}

// New returns the balancer for m over set.
func New(m Method, set Set) (Balancer, error) {
	switch m.Kind {
	case RoundRobin:
		return NewRoundRobin(set), nil
	case LeastConn:
		return NewLeastConn(set), nil
	case Source, URI, Header, Query:
		return NewCHash(set), nil
	}
	return nil, fmt.Errorf("balance: unknown method %v", m)
}
