package proxy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/gateway/accesslog"
)

// The access-log lines the session machine writes, without sockets: each
// case drives a session through the harness and compares every record
// logged, summarised by line(), then checks details.

// logCapture is the Loop's Logger: it keeps a copy of each record.
type logCapture struct{ recs []accesslog.Record }

func (c *logCapture) Log(r *accesslog.Record) { c.recs = append(c.recs, *r) }

// line summarises the fields a case checks: kind status pool/server
// Tq/Tw/Tc/Tr/Tt (ms) termination(code) closed-by/close-code retries/redispatches.
func line(r *accesslog.Record) string {
	ms := func(d time.Duration) int64 {
		if d < 0 {
			return -1
		}
		return d.Milliseconds()
	}
	code := r.Code()
	return fmt.Sprintf("%s %d %s/%s %d/%d/%d/%d/%d %s(%s) %s/%d r%d/%d", r.Kind, r.Status, r.Pool, r.Server,
		ms(r.Tq), ms(r.Tw), ms(r.Tc), ms(r.Tr), ms(r.Tt), r.Term, code[:2], r.ClosedBy, r.CloseCode, r.Retries, r.Redispatches)
}

// logged sets up the harness to log, on a clock that moves with the ticks.
func logged(h *harness) *logCapture {
	c := &logCapture{}
	base := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	h.lp.Log = c
	h.lp.Clock = func() time.Time { return base.Add(time.Duration(h.env.now) * tickLen) }
	return c
}

func TestAccessLogLines(t *testing.T) {
	cases := []struct {
		name  string
		spec  string
		steps func(h *harness)
		lines []string
		check func(t *testing.T, h *harness, recs []accesslog.Record)
	}{
		{name: "GET answered, then a kept-alive GET on the same connection", steps: func(h *harness) {
			h.advance(1)
			h.send(get("/a?x=1&token=secret"))
			h.advance(2)
			srv := h.connect()
			h.advance(3)
			h.reply(srv, ok("hi"))
			h.advance(4)
			h.send(get("/b"))
			h.advance(1)
			h.reply(srv, ok("yo"))
		}, lines: []string{
			"http 200 app/a 0/0/200/300/500 normal(--) /0 r0/0",
			"http 200 app/a 0/0/0/100/100 normal(--) /0 r0/0",
		}, check: func(t *testing.T, h *harness, recs []accesslog.Record) {
			r := recs[0]
			if r.Method != "GET" || r.Target != "/a?x=1&token=secret" || r.Proto != "HTTP/1.1" || r.Client.Addr().String() != "10.0.0.1" {
				t.Errorf("request fields %q %q %q %v", r.Method, r.Target, r.Proto, r.Client)
			}
			if want := int64(len(get("/a?x=1&token=secret"))); r.BytesIn != want {
				t.Errorf("bytes in %d, want %d", r.BytesIn, want)
			}
			if want := int64(len(okTo("hi", "keep-alive"))); r.BytesOut != want {
				t.Errorf("bytes out %d, want %d", r.BytesOut, want)
			}
			for _, enc := range []func([]byte, *accesslog.Record) []byte{accesslog.AppendJSON, accesslog.AppendText} {
				if l := string(enc(nil, &r)); strings.Contains(l, "secret") || !strings.Contains(l, "/a?x=1") {
					t.Errorf("token not stripped, or path lost: %s", l)
				}
			}
		}},
		{name: "tunnel closed by the server: server_closed, close 1001 to the client", steps: func(h *harness) {
			srv := tunnel(h)
			h.advance(10)
			h.send(clientHi)
			h.reply(srv, frameHi)
			h.hangUp(srv)
		}, lines: []string{"ws 101 app/a 0/0/0/0/1000 server_closed(SD) server/1001 r0/0"},
			check: func(t *testing.T, h *harness, recs []accesslog.Record) {
				r := recs[0]
				if in, out := int64(len(upgradeReq)+len(clientHi)), int64(len(accepted)+len(frameHi)); r.BytesIn != in || r.BytesOut != out {
					t.Errorf("bytes %d/%d, want %d/%d", r.BytesIn, r.BytesOut, in, out)
				}
				if txt := string(accesslog.AppendText(nil, &r)); !strings.Contains(txt, " SD-- ") || !strings.Contains(txt, "1001/server") {
					t.Errorf("text line: %s", txt)
				}
				if js := string(accesslog.AppendJSON(nil, &r)); !strings.Contains(js, `"termination":"server_closed"`) || !strings.Contains(js, `"close_code":1001`) {
					t.Errorf("json line: %s", js)
				}
			}},
		{name: "tunnel closed by the client", steps: func(h *harness) {
			tunnel(h)
			h.advance(5)
			h.client.closeConn()
		}, lines: []string{"ws 101 app/a 0/0/0/0/500 client_closed(CD) client/0 r0/0"}},
		{name: "tunnel cut mid-frame by the server: no close frame", steps: func(h *harness) {
			srv := tunnel(h)
			h.reply(srv, frameHalf)
			h.hangUp(srv)
		}, lines: []string{"ws 101 app/a 0/0/0/0/0 server_closed(SD) server/0 r0/0"}},
		{name: "tunnel timeout", spec: "app=a@h:1;tunnel-timeout=1s", steps: func(h *harness) {
			tunnel(h)
			h.advance(12)
		}, lines: []string{"ws 101 app/a 0/0/0/0/1100 timeout_tunnel(cD) gateway/0 r0/0"}},
		{name: "drain of a tunnel: 1001", steps: func(h *harness) {
			tunnel(h)
			h.advance(2)
			h.last().Drain()
		}, lines: []string{"ws 101 app/a 0/0/0/0/200 drain(KD) gateway/1001 r0/0"}},
		{name: "drain of a request in flight: it finishes normally", steps: func(h *harness) {
			h.send(get("/a"))
			srv := h.connect()
			h.last().Drain()
			h.reply(srv, ok("hi"))
		}, lines: []string{"http 200 app/a 0/0/0/0/0 normal(--) /0 r0/0"}},
		{name: "refused connect redispatched: retries and the server that answered", spec: two, steps: func(h *harness) {
			h.send(get("/a"))
			h.advance(1)
			h.refuseDial(errRefused)
			h.advance(1)
			h.reply(h.connect(), ok("hi"))
		}, lines: []string{"http 200 app/b 0/0/200/0/200 normal(--) /0 r1/1"}},
		{name: "no server left after a refused connect: 503 server_error", steps: func(h *harness) {
			h.send(get("/a"))
			h.advance(1)
			h.refuseDial(errRefused)
		}, lines: []string{"http 503 app/a 0/0/-1/-1/100 server_error(SC) /0 r1/0"}},
		{name: "connect timeout: 503 timeout_connect", spec: "app=a@h:1;connect-timeout=1s", steps: func(h *harness) {
			h.send(get("/a"))
			h.advance(12)
		}, lines: []string{"http 503 app/a 0/0/-1/-1/1100 timeout_connect(sC) /0 r1/0"}},
		{name: "server silent: 504 timeout_server", spec: "app=a@h:1;server-timeout=1s", steps: func(h *harness) {
			h.send(get("/a"))
			h.connect()
			h.advance(12)
		}, lines: []string{"http 504 app/a 0/0/0/-1/1100 timeout_server(sH) /0 r0/0"}},
		{name: "server closes before responding: 502 server_closed", steps: func(h *harness) {
			h.send(get("/a"))
			h.hangUp(h.connect())
		}, lines: []string{"http 502 app/a 0/0/0/-1/0 server_closed(SH) /0 r0/0"}},
		{name: "client leaves while waiting for the response", steps: func(h *harness) {
			h.send(get("/a"))
			h.connect()
			h.advance(3)
			h.client.closeConn()
		}, lines: []string{"http 0 app/a 0/0/0/-1/300 client_closed(CH) /0 r0/0"}},
		{name: "server at maxconn without a queue: 503 refused before any session", spec: "app=a@h:1;maxconn=1", steps: func(h *harness) {
			fill(h, "a")
			h.send(get("/a"))
		}, lines: []string{"http 503 app/ 0/-1/-1/-1/0 refused(RQ) /0 r0/0"}},
		{name: "queued, then granted: Tw", spec: "app=a@h:1;maxconn=1;queue=1;connect-timeout=1s", steps: func(h *harness) {
			fill(h, "a")
			h.send(get("/a"))
			h.advance(4)
			h.pool.Server("a").Release()
			h.runPosts()
			h.advance(1)
			h.reply(h.connect(), ok("hi"))
		}, lines: []string{"http 200 app/a 0/400/100/0/500 normal(--) /0 r0/0"}},
		{name: "queue timeout: 503 timeout_queue", spec: "app=a@h:1;maxconn=1;queue=1;connect-timeout=1s", steps: func(h *harness) {
			fill(h, "a")
			h.send(get("/a"))
			h.advance(12)
		}, lines: []string{"http 503 app/ 0/-1/-1/-1/1100 timeout_queue(sQ) /0 r0/0"}},
		{name: "bad request body framing: 400 protocol_error", steps: func(h *harness) {
			h.send(postHead + "Content-Length: 1\r\nContent-Length: 2\r\n\r\n")
		}, lines: []string{"http 400 app/ 0/-1/-1/-1/0 protocol_error(PQ) /0 r0/0"}},
		{name: "GET on a dead kept-alive connection sent again: one retry", steps: func(h *harness) {
			srv := keptAlive(h, get("/a"))
			h.send(get("/b"))
			h.hangUp(srv)
			h.reply(h.connect(), ok("hi"))
		}, lines: []string{"http 200 app/a 0/0/0/0/0 normal(--) /0 r0/0", "http 200 app/a 0/0/0/0/0 normal(--) /0 r1/0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := c.spec
			if spec == "" {
				spec = "app=a@h:1"
			}
			h := newHarness(t, spec)
			lc := logged(h)
			c.steps(h)
			var got []string
			for i := range lc.recs {
				got = append(got, line(&lc.recs[i]))
			}
			if strings.Join(got, "\n") != strings.Join(c.lines, "\n") {
				t.Errorf("lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.lines, "\n"))
			}
			if c.check != nil && len(lc.recs) == len(c.lines) {
				c.check(t, h, lc.recs)
			}
		})
	}
}

// The request ID: generated for an untrusted client (its own replaced, a
// duplicate dropped), kept for a trusted one; the server gets the logged one.
func TestAccessLogRequestID(t *testing.T) {
	for _, tc := range []struct {
		name, trusted, head string
		keep                bool
	}{
		{"none sent: generated", "", get("/a"), false},
		{"untrusted: replaced, duplicates dropped", "192.0.2.0/24", "GET /a HTTP/1.1\r\nHost: h\r\nX-Request-Id: mine\r\nx-request-id: again\r\n\r\n", false},
		{"trusted: kept", "10.0.0.0/8", "GET /a HTTP/1.1\r\nHost: h\r\nX-Request-Id: mine\r\n\r\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "app=a@h:1")
			lc := logged(h)
			ids, err := accesslog.NewIDs(accesslog.Config{RequestIDHeader: "X-Request-Id", RequestIDTrusted: tc.trusted})
			if err != nil {
				t.Fatal(err)
			}
			h.lp.IDs = ids
			h.send(tc.head)
			srv := h.connect()
			h.reply(srv, ok("hi"))
			if len(lc.recs) != 1 {
				t.Fatalf("%d records", len(lc.recs))
			}
			id := lc.recs[0].RequestID
			if (id == "mine") != tc.keep || id == "" {
				t.Errorf("request ID %q, kept %v", id, tc.keep)
			}
			if got := strings.Count(strings.ToLower(string(srv.out)), "x-request-id:"); got != 1 || !strings.Contains(string(srv.out), "X-Request-Id: "+id+"\r\n") {
				t.Errorf("server got %d request ID fields, want one with %q:\n%s", got, id, srv.out)
			}
		})
	}
}
