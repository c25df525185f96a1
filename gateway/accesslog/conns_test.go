package accesslog

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/wsgate/wsgate/codec"
)

// collector is a Sink that keeps copies of what it is given.
type collector []Record

func (c *collector) Log(rec *Record) { *c = append(*c, *rec) }

type peer struct {
	addr net.Addr
	tls  bool
}

func (p peer) RemoteAddr() net.Addr { return p.addr }
func (p peer) TLS() bool            { return p.tls }

var client = peer{addr: &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 40000}}

func newConns(t *testing.T) (*Conns, *collector) {
	t.Helper()
	ids, err := NewIDs(cfg(func(c *Config) { c.RequestIDTrusted = "10.0.0.0/8" }))
	if err != nil {
		t.Fatal(err)
	}
	var c collector
	return NewConns(&c, ids), &c
}

func head(t *testing.T, s string) (*codec.Request, int) {
	t.Helper()
	req, n, err := codec.ParseRequestHead([]byte(strings.ReplaceAll(s, "\n", "\r\n")+"\r\n"), 8192)
	if err != nil || n == 0 {
		t.Fatalf("head %q: n %d, %v", s, n, err)
	}
	return req, n
}

// TestConnSize: a connection with the log on keeps one Conn; 128 bytes is
// a Go size class (the next is 144).
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 128 {
		t.Fatalf("Conn is %d bytes, over the 128-byte size class", n)
	}
}

func TestRefusalTerm(t *testing.T) {
	for status, want := range map[int]Termination{
		503: TermNoServer, 400: TermProtocolError, 426: TermProtocolError, 431: TermProtocolError,
		413: TermProtocolError, 401: TermDenied, 403: TermDenied, 404: TermDenied, 405: TermDenied, 429: TermDenied,
	} {
		if got := RefusalTerm(status); got != want {
			t.Errorf("RefusalTerm(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestAddrPortAndListener(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 80}, "192.0.2.1:80"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 81}, "192.0.2.1:81"}, // dual-stack socket: shown as IPv4
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 82}, "[2001:db8::1]:82"},
		{&net.UnixAddr{Name: "/x", Net: "unix"}, "invalid AddrPort"},
		{nil, "invalid AddrPort"},
	} {
		if got := AddrPort(c.addr).String(); got != c.want {
			t.Errorf("AddrPort(%v) = %s, want %s", c.addr, got, c.want)
		}
	}
	if Listener(peer{tls: true}) != "tls" || Listener(peer{}) != "plain" {
		t.Error("listener names")
	}
}

func TestRefused(t *testing.T) {
	cl, got := newConns(t)
	cl.Refused(client.addr, true, 503, TermRefused, "max-conns")
	cl.Refused(client.addr, false, 0, TermDrain, "draining")
	if len(*got) != 2 {
		t.Fatalf("%d lines, want 2", len(*got))
	}
	r := (*got)[0]
	if r.Kind != KindRefused || r.Client.String() != "10.1.2.3:40000" || r.Listener != "tls" || r.Status != 503 ||
		r.Term != TermRefused || r.Detail != "max-conns" || r.Tt != 0 || r.Tq != -1 {
		t.Errorf("refused by a limit: %+v", r)
	}
	if r := (*got)[1]; r.Listener != "plain" || r.Status != 0 || r.Term != TermDrain {
		t.Errorf("refused by a drain: %+v", r)
	}
}

func TestAnswered(t *testing.T) {
	cl, got := newConns(t)
	a := cl.Open()
	opened := cl.at(a.start)

	// The demo page on the connection's first request: timed from the accept.
	req, _ := head(t, "GET /demo?token=x HTTP/1.0\nHost: h\nX-Forwarded-For: 198.51.100.4\nX-Request-Id: lb-1\n")
	cl.RequestStart(a) // already marked by the accept: kept
	time.Sleep(time.Millisecond)
	cl.Answered(a, client, req, "", 200, TermNormal, "", 1234)
	r := (*got)[0]
	if !r.Time.Equal(opened) || r.Kind != KindHTTP || r.Method != "GET" || r.Target != "/demo?token=x" || r.Proto != "HTTP/1.0" ||
		r.XFF != "198.51.100.4" || r.RequestID != "lb-1" || r.Client.String() != "10.1.2.3:40000" || r.Listener != "plain" ||
		r.Status != 200 || r.Term != TermNormal || r.Tq < time.Millisecond || r.Tt < r.Tq || r.BytesOut != 1234 {
		t.Errorf("demo page: %+v (opened %v)", r, opened)
	}

	// The next request is timed from its own first byte.
	time.Sleep(2 * time.Millisecond)
	cl.RequestStart(a)
	marked := cl.at(a.start)
	cl.RequestStart(a) // a later read of the same head: the mark stays
	req, _ = head(t, "GET /rooms/a HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: Upgrade\n")
	cl.Answered(a, peer{addr: client.addr, tls: true}, req, "/rooms/", 403, RefusalTerm(403), "origin not allowed", 97)
	r = (*got)[1]
	if !r.Time.Equal(marked) || !r.Time.After(opened) || r.Kind != KindWebSocket || r.Proto != "HTTP/1.1" || r.Route != "/rooms/" ||
		r.Listener != "tls" || r.Term != TermDenied || r.Detail != "origin not allowed" || r.RequestID == "" || r.XFF != "" || r.BytesOut != 97 {
		t.Errorf("refused upgrade: %+v", r)
	}

	// A head that could not be parsed: no request fields, Tq -1.
	cl.Answered(a, client, nil, "", 400, TermProtocolError, "bad request line", 0)
	r = (*got)[2]
	if r.Kind != KindHTTP || r.Method != "" || r.Tq != -1 || r.Status != 400 || r.Time.Before(marked) {
		t.Errorf("unparsed head: %+v", r)
	}

	// The log is off: no Conn, nothing logged, nothing panics.
	cl.Answered(nil, client, req, "", 200, TermNormal, "", 10)
	cl.RequestStart(nil)
	if len(*got) != 3 {
		t.Errorf("%d lines, want 3", len(*got))
	}
}

func TestTakeStart(t *testing.T) {
	cl, _ := newConns(t)
	a := cl.Open()
	if s := cl.TakeStart(a); s.IsZero() || s.After(time.Now()) {
		t.Errorf("first request: start %v, want the accept", s)
	}
	if s := cl.TakeStart(a); !s.IsZero() {
		t.Errorf("unmarked request: start %v, want zero (the session stamps now)", s)
	}
	cl.RequestStart(a)
	if s := cl.TakeStart(a); s.IsZero() {
		t.Error("marked request: zero start")
	}
	if s := cl.TakeStart(nil); !s.IsZero() {
		t.Errorf("log off: start %v", s)
	}
}

func TestWebSocketSession(t *testing.T) {
	cl, got := newConns(t)
	a := cl.Open()
	req, n := head(t, "GET /rooms/a?token=s HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: Upgrade\nX-Forwarded-For: 192.0.2.9\n")
	cl.OpenWS(a, client, req, "/rooms/", n, 129)
	if !a.WebSocket() {
		t.Fatal("no session open after OpenWS")
	}
	a.Received(1, 30)
	a.Received(0, 6)
	a.Sent(2, 40)
	a.Sent(0, 4) // the close frame
	cl.CloseWS(a, client, "a", TermClientClosed, SideClient, 1000, "")
	cl.CloseWS(a, client, "a", TermDrain, SideGateway, 1001, "") // closed already: no second line
	if len(*got) != 1 {
		t.Fatalf("%d lines, want 1", len(*got))
	}
	r := (*got)[0]
	if r.Kind != KindWebSocket || r.Status != 101 || r.Method != "GET" || r.Proto != "HTTP/1.1" || r.Target != "/rooms/a?token=s" ||
		r.XFF != "192.0.2.9" || r.RequestID == "" || r.Route != "/rooms/" || r.Topic != "a" || r.Tq < 0 || r.Tt < r.Tq {
		t.Errorf("session line: %+v", r)
	}
	if r.BytesIn != int64(n)+36 || r.BytesOut != 129+44 || r.MsgsIn != 1 || r.MsgsOut != 2 {
		t.Errorf("counts: in %d bytes %d msgs, out %d bytes %d msgs", r.BytesIn, r.MsgsIn, r.BytesOut, r.MsgsOut)
	}
	if r.CloseCode != 1000 || r.ClosedBy != SideClient || r.Term != TermClientClosed {
		t.Errorf("close: %d by %v, %v", r.CloseCode, r.ClosedBy, r.Term)
	}
	if a.WebSocket() || a.target != "" || a.start != -1 {
		t.Errorf("after the close the connection keeps %+v", *a)
	}

	// A second session on the connection starts its counters afresh.
	cl.RequestStart(a)
	cl.OpenWS(a, client, req, "/rooms/", n, 129)
	cl.CloseWS(a, client, "", TermSlowConsumer, SideGateway, 1008, "slow consumer")
	if r := (*got)[1]; r.MsgsIn != 0 || r.MsgsOut != 0 || r.BytesIn != int64(n) || r.Topic != "" || r.Term != TermSlowConsumer {
		t.Errorf("second session: %+v", r)
	}

	// The log is off: a nil Conn counts nothing and logs nothing.
	var off *Conn
	off.Received(1, 1)
	off.Sent(1, 1)
	cl.OpenWS(off, client, req, "/rooms/", n, 129)
	cl.CloseWS(off, client, "a", TermNormal, SideClient, 1000, "")
	if off.WebSocket() || len(*got) != 2 {
		t.Errorf("log off: %d lines", len(*got))
	}
}

// TestRecordStringsOwnTheirBytes: a session's line is written long after its
// head was read; what it keeps must not alias a buffer reused since.
func TestRecordStringsOwnTheirBytes(t *testing.T) {
	cl, got := newConns(t)
	a := cl.Open()
	buf := []byte("GET /rooms/a HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Forwarded-For: 192.0.2.9\r\nX-Request-Id: id-1\r\n\r\n")
	req, n, err := codec.ParseRequestHead(buf, 8192)
	if err != nil {
		t.Fatal(err)
	}
	cl.OpenWS(a, peer{addr: &net.TCPAddr{IP: netip.MustParseAddr("10.0.0.1").AsSlice(), Port: 1}}, req, "/rooms/", n, 0)
	for i := range buf {
		buf[i] = 'x'
	}
	cl.CloseWS(a, client, "a", TermNormal, SideClient, 1000, "")
	if r := (*got)[0]; r.Target != "/rooms/a" || r.XFF != "192.0.2.9" || r.RequestID != "id-1" {
		t.Errorf("line after the buffer was reused: target %q xff %q id %q", r.Target, r.XFF, r.RequestID)
	}
}
