package accesslog_test

import (
	"net/netip"
	"os"
	"time"

	"github.com/wsgate/wsgate/gateway/accesslog"
)

// Example follows one proxied WebSocket session through the session
// machine's events, as the gateway wires them.
func Example() {
	log, _ := accesslog.NewWriter(accesslog.Config{Format: "text", Sample: 1}, os.Stdout, nil, nil)
	defer log.Close()
	ids, _ := accesslog.NewIDs(accesslog.Config{RequestIDHeader: "X-Request-Id", RequestIDTrusted: "10.0.0.0/8"})

	accept := time.Date(2026, 11, 30, 18, 0, 35, 0, time.UTC)
	at := func(ms int) time.Time { return accept.Add(time.Duration(ms) * time.Millisecond) }
	var rec accesslog.Record // embedded in the session: no allocation

	rec.Reset(accept) // accept
	rec.Client, rec.Listener = netip.MustParseAddrPort("10.1.2.3:40000"), "plain"

	rec.HeadParsed(at(2)) // request head parsed
	rec.Kind, rec.Method, rec.Target, rec.Proto = accesslog.KindWebSocket, "GET", "/live?room=7&token=eyJh", "HTTP/1.1"
	rec.XFF = "198.51.100.4"
	rec.RequestID = ids.RequestID(rec.Client.Addr(), "lb-42") // the client's header; kept: 10/8 is trusted
	rec.Route, rec.Pool = "/live", "app"

	rec.QueueGranted(at(2)) // no queue: Tw = 0
	rec.Server = "s1"
	rec.Connected(at(3))
	rec.ResponseHead(at(9)) // the server's 101
	rec.Status = 101

	rec.MsgsIn, rec.MsgsOut, rec.BytesIn, rec.BytesOut = 3, 40, 700, 5200 // at the close
	rec.CloseCode, rec.ClosedBy, rec.Term = 1000, accesslog.SideClient, accesslog.TermClientClosed
	rec.End(at(90000))
	log.Log(&rec)
	// Output:
	// 10.1.2.3:40000 [30/Nov/2026:18:00:35.000] plain /live app/s1 2/0/1/6/90000 101 5200 - - CD-- 0/0 ws client_closed 700 3/40 1000/client lb-42 - {198.51.100.4|} "GET /live?room=7 HTTP/1.1"
}
