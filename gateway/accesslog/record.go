package accesslog

import (
	"net/netip"
	"strings"
	"time"
)

// Kind is what a line describes.
type Kind uint8

const (
	KindHTTP      Kind = iota // one proxied (or gateway-answered) HTTP request
	KindWebSocket             // one WebSocket session, logged at its close
	KindRefused               // a connection refused before any request was read
)

var kindNames = [...]string{KindHTTP: "http", KindWebSocket: "ws", KindRefused: "refused"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Side is who closed a WebSocket session.
type Side uint8

const (
	SideNone    Side = iota // not a WebSocket session, or unknown
	SideClient              // the client sent a close frame or closed its TCP side
	SideServer              // the backend server did (tunnels)
	SideGateway             // the gateway did (timeouts, slow consumer, drain, errors)
)

var sideNames = [...]string{SideNone: "", SideClient: "client", SideServer: "server", SideGateway: "gateway"}

func (s Side) String() string {
	if int(s) < len(sideNames) {
		return sideNames[s]
	}
	return ""
}

// Termination is why a request or session ended, in the spirit of HAProxy's
// termination state: its name is spelled out in JSON, and Code gives the two
// HAProxy characters (cause, then phase) for the text format.
type Termination uint8

const (
	TermUnknown          Termination = iota // the session machine did not say: a bug to fix, shown as "unknown"
	TermNormal                              // request answered / session ended as the protocol intends
	TermClientClosed                        // the client ended it (close frame, FIN or reset)
	TermServerClosed                        // the backend server ended it
	TermTimeoutHandshake                    // request head not complete in -handshake-timeout (408)
	TermTimeoutClient                       // client stalled sending a body (-client-timeout, 408)
	TermTimeoutIdle                         // WebSocket peer silent past -idle-timeout
	TermTimeoutTunnel                       // tunnel silent both ways past the pool's tunnel-timeout
	TermTimeoutServer                       // server did not answer in server-timeout (504)
	TermTimeoutConnect                      // could not connect in connect-timeout (after redispatch)
	TermTimeoutQueue                        // waited too long for a server slot (503)
	TermRefused                             // refused by a limit (max-conns, per-IP, rate); Detail names it
	TermSlowConsumer                        // closed 1008: unsent bytes above -max-outbound
	TermDrain                               // closed 1001 by a drain or shutdown
	TermProtocolError                       // client broke HTTP or WebSocket rules (400/413/431, 1002/1007/1009)
	TermDenied                              // refused by a rule: Origin, auth (401/403)
	TermNoServer                            // no usable server in the pool (503)
	TermServerError                         // connect refused or invalid server response (502)
	TermProxyError                          // internal error in the gateway
	termCount
)

// termInfo is the name and HAProxy cause character of each Termination.
// Causes as HAProxy documents them: '-' normal, 'C' client abort, 'S' server
// abort or error, 'c'/'s' client/server-side timeout, 'R' resource limit,
// 'K' killed by the admin, 'P' refused by the proxy, 'I' internal error.
var termInfo = [termCount]struct {
	name  string
	cause byte
}{
	TermUnknown:          {"unknown", '?'},
	TermNormal:           {"normal", '-'},
	TermClientClosed:     {"client_closed", 'C'},
	TermServerClosed:     {"server_closed", 'S'},
	TermTimeoutHandshake: {"timeout_handshake", 'c'},
	TermTimeoutClient:    {"timeout_client", 'c'},
	TermTimeoutIdle:      {"timeout_idle", 'c'},
	TermTimeoutTunnel:    {"timeout_tunnel", 'c'},
	TermTimeoutServer:    {"timeout_server", 's'},
	TermTimeoutConnect:   {"timeout_connect", 's'},
	TermTimeoutQueue:     {"timeout_queue", 's'},
	TermRefused:          {"refused", 'R'},
	TermSlowConsumer:     {"slow_consumer", 'R'},
	TermDrain:            {"drain", 'K'},
	TermProtocolError:    {"protocol_error", 'P'},
	TermDenied:           {"denied", 'P'},
	TermNoServer:         {"no_server", 'S'},
	TermServerError:      {"server_error", 'S'},
	TermProxyError:       {"proxy_error", 'I'},
}

func (t Termination) String() string {
	if t < termCount {
		return termInfo[t].name
	}
	return "unknown"
}

// Record is one access-log line. The session machine owns one per session
// (embedded, so filling it allocates nothing), fills it as the phases happen
// and hands it to Logger.Log at the end, which copies it.
//
// Strings must not alias buffers that are reused later (codec.Request's
// strings are fine: they own their bytes). Durations are -1 for a phase that
// did not happen (Reset sets them so), printed "-1" as HAProxy does.
type Record struct {
	Time     time.Time      // when the request or connection started (accept, or first byte of a keep-alive request)
	Kind     Kind           // http, ws or refused
	Client   netip.AddrPort // client address as the gateway sees it
	XFF      string         // X-Forwarded-For as received ("" if absent)
	Listener string         // "plain" or "tls" (a listener name later)
	Route    string         // route prefix that matched ("" if none)
	Topic    string         // topic routes: the topic
	Pool     string         // backend routes: the pool
	Server   string         // backend routes: the server that got the request ("" if none)
	Method   string         // request method
	Target   string         // request target as received; encoders remove token parameters (StripToken)
	Proto    string         // "HTTP/1.1" or "HTTP/1.0"
	Status   int            // status sent to the client (101 for WebSocket); 0 if none, printed -1
	Detail   string         // short reason: the limit that refused, a close reason, an error ("" if none)

	// HAProxy timers, each measured from the end of the previous phase:
	Tq time.Duration // receive the complete request head
	Tw time.Duration // wait in the pool's queue for a server slot
	Tc time.Duration // connect to the server (all attempts)
	Tr time.Duration // server's response head after the request was sent
	Tt time.Duration // total, from Time to the end

	BytesIn, BytesOut int64 // bytes received from / sent to the client, heads included
	MsgsIn, MsgsOut   int64 // WebSocket messages from / to the client
	CloseCode         int   // WebSocket close code sent or received (0: none)
	ClosedBy          Side  // who closed the WebSocket session
	Retries           int   // connect retries to a server
	Redispatches      int   // times the request moved to another server
	Term              Termination
	RequestID         string // the request ID ("" if disabled)
	User              string // authenticated subject (JWT sub), "" if none
}

// Reset starts a record at start (the accept, or the first byte of a
// keep-alive request): every other field cleared, every timer -1.
func (r *Record) Reset(start time.Time) {
	*r = Record{Time: start, Tq: -1, Tw: -1, Tc: -1, Tr: -1, Tt: -1}
}

// elapsed is the time since r.Time not yet given to an earlier phase timer.
func (r *Record) elapsed(now time.Time, before ...time.Duration) time.Duration {
	d := now.Sub(r.Time)
	for _, b := range before {
		if b > 0 {
			d -= b
		}
	}
	return max(d, 0)
}

// HeadParsed sets Tq: the request head is complete.
func (r *Record) HeadParsed(now time.Time) { r.Tq = r.elapsed(now) }

// QueueGranted sets Tw: a server slot was granted (call it at once, giving
// Tw = 0, when there was no queue).
func (r *Record) QueueGranted(now time.Time) { r.Tw = r.elapsed(now, r.Tq) }

// Connected sets Tc: the connection to the server is established.
func (r *Record) Connected(now time.Time) { r.Tc = r.elapsed(now, r.Tq, r.Tw) }

// ResponseHead sets Tr: the server's response head (or 101) arrived.
func (r *Record) ResponseHead(now time.Time) { r.Tr = r.elapsed(now, r.Tq, r.Tw, r.Tc) }

// End sets Tt: the request or session is over.
func (r *Record) End(now time.Time) { r.Tt = r.elapsed(now) }

// phase is HAProxy's second termination character: where the session was
// when it ended.
func (r *Record) phase() byte {
	switch {
	case r.Term == TermNormal:
		return '-'
	case r.Tq < 0:
		return 'R' // waiting for the request
	case r.Pool == "":
		return 'D' // answered by the gateway itself: data phase
	case r.Tw < 0:
		return 'Q'
	case r.Tc < 0:
		return 'C'
	case r.Tr < 0:
		return 'H'
	}
	return 'D'
}

// Code is the HAProxy-style termination state: cause, phase, and "--" where
// HAProxy puts its persistence cookie flags. "----" is a normal end, "CD--" a
// client that closed during data, "cR--" a request head timeout.
func (r *Record) Code() [4]byte {
	t := r.Term
	if t >= termCount {
		t = TermUnknown
	}
	return [4]byte{termInfo[t].cause, r.phase(), '-', '-'}
}

// Success reports whether r is an ordinary outcome, subject to sampling: a
// request answered below 400, or a session that ended normally or by a peer
// with close code 1000 or 1001. Refusals, timeouts, errors and every other
// termination are always logged.
func (r *Record) Success() bool {
	if r.Kind == KindRefused || r.Status < 100 || r.Status >= 400 {
		return false
	}
	switch r.Term {
	case TermNormal, TermClientClosed, TermServerClosed:
	default:
		return false
	}
	return r.CloseCode == 0 || r.CloseCode == 1000 || r.CloseCode == 1001
}

// StripToken returns target without any "token" query parameter, the rest
// byte for byte: "/ws?a=1&token=x&b=2" gives "/ws?a=1&b=2", "/ws?token=x"
// gives "/ws". A parameter is removed when its name, percent-decoded, is
// exactly "token" (case-sensitive, as the JWT issue defines it): "%74oken=x"
// is removed too, because a query decoder (Go's url.ParseQuery) would read it
// as the token, while "tokens=x" and "Token=x" are kept. Parameters are split
// on '&' only (Go rejects ';'). With no token it returns target itself.
func StripToken(target string) string {
	if !hasToken(target) {
		return target
	}
	return string(appendStripped(nil, target, appendRaw))
}

func appendRaw(dst []byte, s string) []byte { return append(dst, s...) }

// hasToken is StripToken's fast path: could target hold a token parameter?
func hasToken(target string) bool {
	i := strings.IndexByte(target, '?')
	if i < 0 {
		return false
	}
	q := target[i+1:]
	return strings.Contains(q, "token") || strings.IndexByte(q, '%') >= 0
}

// appendStripped appends target without token parameters, each kept piece
// through esc (the format's escaper), so the encoders strip and escape in one
// pass without a temporary string.
func appendStripped(dst []byte, target string, esc func([]byte, string) []byte) []byte {
	path, query, hasQuery := strings.Cut(target, "?")
	dst = esc(dst, path)
	if !hasQuery {
		return dst
	}
	if !hasToken(target) {
		return esc(append(dst, '?'), query)
	}
	sep := byte('?')
	for {
		param, rest, more := strings.Cut(query, "&")
		if !isTokenParam(param) {
			dst = esc(append(dst, sep), param)
			sep = '&'
		}
		if !more {
			return dst
		}
		query = rest
	}
}

// isTokenParam reports whether param's name, percent-decoded, is "token".
func isTokenParam(param string) bool {
	name, _, _ := strings.Cut(param, "=")
	const want = "token"
	j := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '%' && i+2 < len(name) && isHex(name[i+1]) && isHex(name[i+2]) {
			c = unhex(name[i+1])<<4 | unhex(name[i+2])
			i += 2
		}
		if j >= len(want) || c != want[j] {
			return false
		}
		j++
	}
	return j == len(want)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
