package access

import (
	"bufio"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/router/auth"
)

// TestForwardOf: what a subrequest takes from the client's head — every
// Cookie field, the first Authorization and Origin, X-Forwarded-For as
// received plus the client, the target without its token.
func TestForwardOf(t *testing.T) {
	head := "GET /rooms/news?a=1&token=s3cret&b=2 HTTP/1.1\r\nHost: chat.example\r\nCookie: a=1\r\n" +
		"Authorization: Basic eDp5\r\nCookie: sid=good\r\nOrigin: https://app.example\r\n" +
		"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2, 10.0.0.3\r\nX-Forwarded-Proto: https\r\n\r\n"
	req, n, err := codec.ParseRequestHead([]byte(head), 4096)
	if err != nil || n == 0 {
		t.Fatalf("parse: %v", err)
	}
	got, ok := forwardOf(req, "127.0.0.9")
	want := auth.Forward{Cookie: "a=1; sid=good", Authorization: "Basic eDp5", Origin: "https://app.example",
		XFF: "10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.9", Proto: "http", Host: "chat.example", OriginalURI: "/rooms/news?a=1&b=2"}
	if got != want || !ok {
		t.Errorf("forwardOf (%v):\n got  %+v\n want %+v", ok, got, want)
	}
	req, _, _ = codec.ParseRequestHead([]byte("GET /ws?token=x HTTP/1.1\r\nHost: h\r\n\r\n"), 4096)
	if got, _ := forwardOf(req, ""); got.OriginalURI != "/ws" || got.XFF != "" || got.Cookie != "" {
		t.Errorf("bare request: %+v", got)
	}
}

// Security review finding 5: a TLS client is reported as https, and a
// request with two Authorization fields is refused, not half forwarded.
func TestForwardOfProtoAndAuthorization(t *testing.T) {
	req, _, err := codec.ParseRequestHead([]byte("GET /ws HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\n\r\n"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	req.TLS = true
	if f, ok := forwardOf(req, ""); f.Proto != "https" || f.Authorization != "Bearer a" || !ok {
		t.Errorf("TLS client: %+v %v, want Proto https", f, ok)
	}
	req, _, err = codec.ParseRequestHead([]byte("GET /ws HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := forwardOf(req, ""); ok {
		t.Error("two Authorization fields accepted")
	}
}

// TestDecideAuthAnswer: what an auth service's answer makes of the
// request, taken from the connection's answered subrequest (no socket).
func TestDecideAuthAnswer(t *testing.T) {
	f := newFixture(t, auth.Config{}, []string{"/rooms/=topic:*;auth=request:authz/check", "/api/=backend:app;auth=request:authz/check"},
		[]string{"authz=a1@127.0.0.1:1", "app=s1@127.0.0.1:1"})
	answered := func(ans auth.Answer, err error) *Subrequest {
		return &Subrequest{pool: "authz", path: "/check", done: true, ans: ans, err: err}
	}
	for _, c := range []struct {
		name              string
		sub               *Subrequest
		status            int // 0: allowed
		challenge, reason string
		noPub             bool
		metric            string
	}{
		{name: "2xx", sub: answered(auth.Answer{Status: 204}, nil)},
		{name: "2xx narrowing topics", sub: answered(auth.Answer{Status: 200, HasTopics: true, Topics: []string{"news"}}, nil)},
		{name: "2xx refusing publish", sub: answered(auth.Answer{Status: 200, HasPublish: true}, nil), noPub: true},
		{name: "2xx not granting the topic", sub: answered(auth.Answer{Status: 200, HasTopics: true, Topics: []string{"sport"}}, nil),
			status: 403, reason: "the auth service does not grant topic news", metric: "forbidden"},
		{name: "401 with challenge", sub: answered(auth.Answer{Status: 401, Challenge: `Basic realm="x"`}, nil),
			status: 401, challenge: `Basic realm="x"`, reason: "refused by the auth service", metric: "invalid"},
		{name: "403 without", sub: answered(auth.Answer{Status: 403}, nil), status: 403, reason: "refused by the auth service", metric: "forbidden"},
		{name: "500", sub: answered(auth.Answer{Status: 500}, nil), status: 503, reason: "the auth service is unavailable", metric: "auth_backend_error"},
		{name: "no answer", sub: answered(auth.Answer{}, errors.New("connect: refused")), status: 503, reason: "the auth service is unavailable", metric: "auth_backend_error"},
	} {
		q := f.request(t, upgrade("/rooms/news", ""))
		q.Sub = c.sub
		var before float64
		if c.metric != "" {
			before = f.count(t, "wsgate_auth_refusals_total", c.metric)
		}
		d := q.decide(f.a)
		switch {
		case d.Sub != nil:
			t.Errorf("%s: the answer was not used up: %+v", c.name, d)
		case c.status == 0 && (d.Verdict != Allow || d.NoPub != c.noPub || d.Claims != nil || !d.Expires.IsZero()):
			t.Errorf("%s: %+v, want Allow with NoPub %v", c.name, d, c.noPub)
		case c.status != 0:
			refused(t, c.name, d, c.status, c.challenge, c.reason)
			if got := f.count(t, "wsgate_auth_refusals_total", c.metric); got != before+1 {
				t.Errorf("%s: refusals{%s} %v -> %v", c.name, c.metric, before, got)
			}
		}
	}
	// On a backend route an allowed request goes on without its token.
	q := f.request(t, "GET /api/x?token=t&a=1 HTTP/1.1\r\nHost: h\r\n\r\n")
	q.Sub = answered(auth.Answer{Status: 200}, nil)
	if d := q.decide(f.a); d.Verdict != Allow || q.Head.URI != "/api/x?a=1" || q.Head.Target != "/api/x?a=1" {
		t.Errorf("backend route: %+v, URI %q", d, q.Head.URI)
	}
	q = f.request(t, upgrade("/rooms/news", "Authorization: Basic a\r\nAuthorization: Basic b\r\n"))
	refused(t, "two Authorization fields", q.decide(f.a), 400, "", "more than one Authorization field")
}

// authService is a fake auth service on 127.0.0.1: it answers each
// connection with answer and keeps the heads it got.
type authService struct {
	ln     net.Listener
	answer string
	mu     sync.Mutex
	heads  []textproto.MIMEHeader
	lines  []string
}

func startAuthService(t *testing.T, answer string) *authService {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &authService{ln: ln, answer: answer}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tr := textproto.NewReader(bufio.NewReader(c))
			line, _ := tr.ReadLine()
			h, _ := tr.ReadMIMEHeader()
			s.mu.Lock()
			s.lines, s.heads = append(s.lines, line), append(s.heads, h)
			s.mu.Unlock()
			_, _ = c.Write([]byte(s.answer))
			_ = c.Close()
		}
	}()
	return s
}

func (s *authService) asked() (int, string, textproto.MIMEHeader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.heads) == 0 {
		return 0, "", nil
	}
	return len(s.heads), s.lines[len(s.lines)-1], s.heads[len(s.heads)-1]
}

// answers is a Conn: it receives the answered subrequests.
type answers chan *Subrequest

func (c answers) AuthAnswered(s *Subrequest) { c <- s }

func (c answers) next(t *testing.T) *Subrequest {
	t.Helper()
	select {
	case s := <-c:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no answer from the subrequest")
		return nil
	}
}

// TestSubrequestRoundTrip: Wait, the subrequest (what the service gets),
// the answer handed to the connection, then the same head decided again
// with it; auth-cache= answers the next request without asking.
func TestSubrequestRoundTrip(t *testing.T) {
	svc := startAuthService(t, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nWsgate-Topics: news\r\nWsgate-Publish: none-here\r\nContent-Length: 0\r\n\r\n")
	f := newFixture(t, auth.Config{}, []string{"/rooms/=topic:*;auth=request:authz/check;auth-cache=1m"},
		[]string{"authz=a1@" + svc.ln.Addr().String()})
	conn := make(answers, 1)
	head := upgrade("/rooms/news?a=1&token=s3cret", "Cookie: sid=good\r\nX-Forwarded-For: 10.0.0.1\r\n")
	q := f.request(t, head)
	q.Conn = conn
	d := q.decide(f.a)
	if d.Verdict != Wait || !d.Sub.Waiting() {
		t.Fatalf("first decision %+v, want Wait with the subrequest", d)
	}
	s := conn.next(t)
	if s != d.Sub || !s.Waiting() {
		t.Fatalf("answered %p, want the Wait's %p, still waiting until the loop takes it", s, d.Sub)
	}
	s.MarkAnswered()
	if s.Waiting() {
		t.Fatal("Waiting after MarkAnswered")
	}
	n, line, h := svc.asked()
	if n != 1 || line != "GET /check HTTP/1.1" || h.Get("Cookie") != "sid=good" || h.Get("X-Original-Uri") != "/rooms/news?a=1" ||
		h.Get("X-Forwarded-For") != "10.0.0.1, 127.0.0.9" || h.Get("X-Forwarded-Host") != "chat.example" || h.Get("Connection") != "close" {
		t.Errorf("the service got %d: %q %v", n, line, h)
	}
	q = f.request(t, head)
	q.Sub = s
	if d := q.decide(f.a); d.Verdict != Allow || !d.NoPub || d.Sub != nil {
		t.Errorf("decided with the answer: %+v, want Allow, NoPub (Wsgate-Publish does not name news)", d)
	}
	if got := f.count(t, "wsgate_auth_subrequest_duration_seconds", "allow"); got != 1 {
		t.Errorf("subrequests{allow} %v, want 1", got)
	}
	// The same credentials again: auth-cache= answers at once.
	if d := f.decide(t, head); d.Verdict != Allow || !d.NoPub {
		t.Errorf("cached: %+v", d)
	}
	if n, _, _ := svc.asked(); n != 1 || f.count(t, "wsgate_auth_cache_hits_total", "") != 1 {
		t.Errorf("cached answer: the service was asked %d times, cache hits %v", n, f.count(t, "wsgate_auth_cache_hits_total", ""))
	}
	// Other credentials are another key: asked again.
	q = f.request(t, strings.Replace(head, "sid=good", "sid=other", 1))
	q.Conn = conn
	if d := q.decide(f.a); d.Verdict != Wait {
		t.Errorf("other credentials: %+v, want Wait", d)
	}
	conn.next(t)
}

// TestSubrequestFailures: an answer for another route (a reload changed
// it) is not used, it asks again; a service that cannot be reached, or that
// answers a redirect, fails closed with 503.
func TestSubrequestFailures(t *testing.T) {
	svc := startAuthService(t, "HTTP/1.1 302 Found\r\nLocation: /login\r\n\r\n")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	_ = dead.Close() // connects are refused
	f := newFixture(t, auth.Config{}, []string{"/rooms/=topic:*;auth=request:authz/check", "/dead/=backend:app;auth=request:gone/check"},
		[]string{"authz=a1@" + svc.ln.Addr().String(), "gone=g1@" + deadAddr, "app=s1@127.0.0.1:1"})
	conn := make(answers, 1)
	for _, c := range []struct{ name, path, reason string }{
		{"redirect", "/rooms/news", "auth service answered 302"},
		{"refused connect", "/dead/x", "connection refused"},
	} {
		q := f.request(t, upgrade(c.path, ""))
		q.Conn = conn
		if d := q.decide(f.a); d.Verdict != Wait {
			t.Fatalf("%s: %+v, want Wait", c.name, d)
		}
		s := conn.next(t)
		s.MarkAnswered()
		q = f.request(t, upgrade(c.path, ""))
		q.Sub = s
		refused(t, c.name, q.decide(f.a), 503, "", "the auth service is unavailable")
		if c.name == "refused connect" && (s.err == nil || !strings.Contains(s.err.Error(), c.reason)) {
			t.Errorf("%s: err %v", c.name, s.err)
		}
	}
	if got := f.count(t, "wsgate_auth_subrequest_duration_seconds", "error"); got != 2 {
		t.Errorf("subrequests{error} %v, want 2 (a 302 is no usable answer either)", got)
	}
	// An answer to another route's subrequest: asked again, not used.
	q := f.request(t, upgrade("/rooms/news", ""))
	q.Sub, q.Conn = &Subrequest{pool: "authz", path: "/old", done: true, ans: auth.Answer{Status: 200}}, conn
	if d := q.decide(f.a); d.Verdict != Wait || d.Sub == q.Sub {
		t.Errorf("answer for another route: %+v, want a new subrequest", d)
	}
	conn.next(t)
}
