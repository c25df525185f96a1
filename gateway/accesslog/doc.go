// Package accesslog writes one line per proxied HTTP request, per WebSocket
// session (at its close) and per refused connection, like HAProxy's
// `option httplog`, and hands out request IDs.
//
// # Flags
//
//	-access-log stderr|stdout|FILE|off   (default off)
//	-access-log-format json|text         (default json)
//	-access-log-sample N                 log 1 in N successful records (Record.Success); others always
//	-request-id-header NAME              (default X-Request-Id; "" disables request IDs)
//	-request-id-trusted CIDR,...         clients whose own request ID is kept (default none)
//
// The access log is not reloaded by SIGHUP; SIGUSR1 reopens its file
// (logrotate's postrotate: `kill -USR1 $(pidof wsgate)`).
//
// # Formats
//
// json: one object per line, every field always present, in this order:
//
//	time          start of the request or connection, UTC, RFC 3339 with milliseconds
//	kind          "http", "ws" or "refused"
//	client        client IP:port ([v6]:port)
//	xff           X-Forwarded-For as received
//	listener      "plain" or "tls"
//	route         the route prefix that matched
//	topic         topic routes: the topic
//	pool, server  backend routes: the pool and the server that got the request
//	method, path, proto   the request line; path without token parameters (StripToken)
//	status        status sent to the client, 101 for WebSocket, -1 if none
//	tq_ms tw_ms tc_ms tr_ms tt_ms   HAProxy's timers in ms, -1 for a phase that did not happen
//	bytes_in, bytes_out   bytes from / to the client, heads and frames included
//	msgs_in, msgs_out     WebSocket messages from / to the client
//	close_code    WebSocket close code (0: none); closed_by "client", "server", "gateway" or ""
//	retries, redispatches connect retries, and moves to another server
//	termination   why it ended: normal, client_closed, server_closed, timeout_handshake,
//	              timeout_client, timeout_idle, timeout_tunnel, timeout_server,
//	              timeout_connect, timeout_queue, refused, slow_consumer, drain,
//	              protocol_error, denied, no_server, server_error, proxy_error
//	term          the same as HAProxy's four characters (cause, phase, "--"), see Record.Code
//	request_id, user, detail   request ID; JWT subject; a short reason (which limit, close reason)
//
// text: close to HAProxy's httplog (see AppendText for the exact layout and
// escaping), for people who grep:
//
//	192.0.2.7:51234 [30/Nov/2026:18:00:35.655] plain /api app/s1 3/0/1/12/16 200 512 - - ---- 0/0 http normal 301 -/- -/- 5f2c9a1b7e3d4c80-1a - {203.0.113.9|} "GET /api/items?a=1 HTTP/1.1"
//
// # Cost
//
// Log copies the Record into a bounded channel and returns: it never blocks
// and never allocates. One writer goroutine encodes (by hand, no reflection)
// into a batch and writes it when the queue is empty or 64 KB are pending. A
// full queue drops the line and counts wsgate_access_log_dropped_total; lines
// written count wsgate_access_log_lines_total.
//
// # Wiring (what the session machine fills, and when)
//
// Proxied requests: the session (gateway/proxy) owns a Record (embedded: no
// allocation) and a *Logger and *IDs from the gateway (both nil-safe when
// disabled). Connections the gateway serves itself (refused at accept,
// answered by the gateway, topic WebSocket sessions): Conns fills the Record
// at the gateway's calls, from a 128-byte Conn per connection. `now` is the
// loop's clock.
//
//   - accept: rec.Reset(now); Client, Listener. Refused by a limit: Kind =
//     KindRefused, Status (503, or 0 when closed without an answer), Term =
//     TermRefused, Detail = the limit ("max-conns", "max-conns-per-ip",
//     "conn-rate-per-ip"); rec.End(now); log.Log(&rec).
//   - request head parsed: rec.HeadParsed(now) (Tq); Method, Target, Proto,
//     XFF = req.Header("X-Forwarded-For"), Kind (KindWebSocket for an upgrade);
//     RequestID = ids.RequestID(client addr, req.Header(ids.Header())), and
//     set that header on the request forwarded to the server (replacing the
//     client's); Route, and Topic or Pool from the route match.
//     Head timeout instead: Status 408, Term TermTimeoutHandshake, End, Log.
//     Bad head: its 400/413/431, Term TermProtocolError, End, Log.
//   - backend: queue granted: rec.QueueGranted(now) (Tw; call it at once when
//     there is no queue, giving 0), Server = the chosen server; each failed
//     connect: Retries++, and Redispatches++ when the next attempt goes to
//     another server (set Server again); connected: rec.Connected(now) (Tc);
//     request sent and response head (or 101) received: rec.ResponseHead(now)
//     (Tr), Status. Failures: TermTimeoutQueue / TermNoServer (503),
//     TermTimeoutConnect / TermServerError (502/503), TermTimeoutServer (504).
//   - topic routes answer the upgrade themselves: Status 101, Tw/Tc/Tr stay -1.
//   - end: rec.End(now) (Tt), Status if the gateway answered, BytesIn,
//     BytesOut, Term, then log.Log(&rec). An HTTP request answered in full is
//     TermNormal; after it, a keep-alive connection calls rec.Reset(now) at
//     the next request's first byte (Client, Listener set again).
//   - WebSocket close (topic sessions and tunnels): MsgsIn, MsgsOut (per
//     session counters; broadcast delivery adds one per message),
//     CloseCode, ClosedBy, and Term: TermClientClosed (client's close or
//     FIN), TermServerClosed (server's close or FIN, tunnels), TermTimeoutIdle,
//     TermTimeoutTunnel, TermSlowConsumer (1008), TermDrain (1001),
//     TermProtocolError (1002/1007/1009); End; Log.
//   - User = the JWT `sub` once the JWT issue lands.
//
// Log copies the record, so the session may Reset and reuse it at once. Its
// strings must not alias reused buffers (codec.Request's own their bytes).
package accesslog
