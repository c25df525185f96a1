package proxy

import "testing"

// Framing as received (issue 11 items 1, 4 and 5): a Connection header
// cannot remove framing or forwarding headers on either side, responses with
// broken framing are refused or normalised, and 1xx lose their hop-by-hop
// headers like any response.

func TestFraming(t *testing.T) {
	smuggled := "GET /admin HTTP/1.1\r\nHost: h\r\n\r\n"
	runCases(t, []tcase{
		{name: "Connection: Content-Length keeps the request framed", steps: func(h *harness) {
			h.send(postHead + "Connection: Content-Length\r\nContent-Length: 32\r\n\r\n" + smuggled)
			h.reply(h.connect(), ok("k"))
		}, want: want{client: okTo("k", "keep-alive"),
			servers: []string{postHead + "Content-Length: 32\r\n" + xf + ka + "\r\n" + smuggled}, closed: "o", phase: PhaseIdle}},
		{name: "Connection: Transfer-Encoding keeps the request framed", steps: func(h *harness) {
			h.send(postHead + "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + smuggled + "\r\n0\r\n\r\n")
			h.reply(h.connect(), ok("k"))
		}, want: want{client: okTo("k", "keep-alive"),
			servers: []string{postHead + "Transfer-Encoding: chunked\r\n" + xf + ka + "\r\n20\r\n" + smuggled + "\r\n0\r\n\r\n"}, closed: "o", phase: PhaseIdle}},
		{name: "Connection: Host, X-Forwarded-For keep them", steps: func(h *harness) {
			h.send("GET /a HTTP/1.1\r\nHost: h\r\nConnection: Host, X-Forwarded-For\r\n\r\n")
			h.reply(h.connect(), ok("k"))
		}, want: want{client: okTo("k", "keep-alive"), servers: []string{fwd("GET", "/a")}, closed: "o", phase: PhaseIdle}},
		{name: "identical duplicate Content-Length goes out once", steps: func(h *harness) {
			h.send(postHead + "Content-Length: 2\r\nContent-Length: 2\r\n\r\nhi")
			h.reply(h.connect(), ok("k"))
		}, want: want{client: okTo("k", "keep-alive"),
			servers: []string{postHead + "Content-Length: 2\r\n" + xf + ka + "\r\nhi"}, closed: "o", phase: PhaseIdle}},
		{name: "Transfer-Encoding on HTTP/1.0: 400", steps: func(h *harness) {
			h.send("POST /u HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
		}, want: want{end: "refuse 400", noSession: true}},
		{name: "chunked twice: 400", steps: func(h *harness) {
			h.send(postHead + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n")
		}, want: want{end: "refuse 400", noSession: true}},
		{name: "Content-Length trailer: 400", steps: func(h *harness) {
			h.send(postHead + "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nContent-Length: 50\r\n\r\n")
			h.connect()
		}, want: want{servers: []string{postHead + "Transfer-Encoding: chunked\r\n" + xf + ka + "\r\n"},
			closed: "c", end: "refuse 400", phase: PhaseRequestBody, ended: true}},
		{name: "LF-only chunk lines: 400", steps: func(h *harness) {
			h.send(postHead + "Transfer-Encoding: chunked\r\n\r\n2\nhi\n0\n\n")
			h.connect()
		}, want: want{servers: []string{postHead + "Transfer-Encoding: chunked\r\n" + xf + ka + "\r\n"},
			closed: "c", end: "refuse 400", phase: PhaseRequestBody, ended: true}},
		{name: "response Connection: Content-Length keeps it", steps: func(h *harness) {
			h.send(get("/a"))
			srv := h.connect()
			h.reply(srv, "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nhi")
			h.send(get("/b"))
			h.reply(srv, ok("x"))
		}, want: want{client: okTo("hi", "keep-alive") + okTo("x", "keep-alive"),
			servers: []string{fwd("GET", "/a") + fwd("GET", "/b")}, closed: "o", phase: PhaseIdle}},
		{name: "response with both framings: chunked wins, Content-Length dropped, server not reused", steps: func(h *harness) {
			h.send(get("/a"))
			srv := h.connect()
			h.reply(srv, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
			h.send(get("/b"))
			h.reply(h.connect(), ok("x"))
		}, want: want{client: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + ka + "\r\n2\r\nhi\r\n0\r\n\r\n" + okTo("x", "keep-alive"),
			servers: []string{fwd("GET", "/a"), fwd("GET", "/b")}, closed: "co", phase: PhaseIdle}},
		{name: "response with differing Content-Length: 502", steps: func(h *harness) {
			h.send(get("/a"))
			h.reply(h.connect(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 20\r\n\r\nhi")
		}, want: want{servers: []string{fwd("GET", "/a")}, closed: "c", end: "refuse 502", phase: PhaseAwaitResponse, ended: true}},
		{name: "response with Content-Length -0: 502", steps: func(h *harness) {
			h.send(get("/a"))
			h.reply(h.connect(), "HTTP/1.1 200 OK\r\nContent-Length: -0\r\n\r\n")
		}, want: want{servers: []string{fwd("GET", "/a")}, closed: "c", end: "refuse 502", phase: PhaseAwaitResponse, ended: true}},
		{name: "response with identical Content-Length goes out once", steps: func(h *harness) {
			h.send(get("/a"))
			h.reply(h.connect(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi")
		}, want: want{client: okTo("hi", "keep-alive"), servers: []string{fwd("GET", "/a")}, closed: "o", phase: PhaseIdle}},
		{name: "1xx lose their hop-by-hop headers", steps: func(h *harness) {
			h.send(get("/a"))
			h.reply(h.connect(), "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\nConnection: X-Secret, keep-alive\r\nKeep-Alive: timeout=5\r\nX-Secret: s\r\n\r\n"+ok("x"))
		}, want: want{client: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + okTo("x", "keep-alive"), servers: []string{fwd("GET", "/a")}, closed: "o", phase: PhaseIdle}},
		{name: "absolute-form: origin-form with the authority as Host", steps: func(h *harness) {
			h.send("GET http://inner.example/a?x HTTP/1.1\r\nHost: h\r\n\r\n")
			h.reply(h.connect(), ok("k"))
		}, want: want{client: okTo("k", "keep-alive"),
			servers: []string{"GET /a?x HTTP/1.1\r\nHost: inner.example\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: inner.example\r\n" + ka + "\r\n"},
			closed:  "o", phase: PhaseIdle}},
	})
}
