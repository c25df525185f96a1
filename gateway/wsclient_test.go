package gateway_test

// The raw RFC 6455 client of these tests is codec/wstest (written without gobwas/ws, which the gateway
// itself uses: an independent encoder is a better oracle). These wrappers turn its errors into test
// failures and close connections when the test ends.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// rawConn is a TCP connection with a buffered reader; every read is bounded by a deadline.
type rawConn = wstest.Conn

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := wstest.Dial(addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// upgradeRaw dials and completes the handshake on path, checking the 101 answer byte for byte where
// RFC 6455 fixes it. chunk > 0 writes the request that many bytes at a time (a head split at arbitrary
// byte boundaries must still parse).
func upgradeRaw(t *testing.T, addr, path string, chunk int) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	if _, err := c.Handshake(path, wstest.Options{Host: addr, Chunk: chunk, Timeout: 5 * time.Second}); err != nil {
		t.Fatalf("upgrade %s: %v", path, err)
	}
	return c
}

// readResponse reads one HTTP response head (and body) within timeout.
func readResponse(t *testing.T, c *rawConn, timeout time.Duration) *http.Response {
	t.Helper()
	resp, err := c.ReadResponse(timeout)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func writeFrames(t *testing.T, c *rawConn, frames ...wstest.Frame) {
	t.Helper()
	if err := c.WriteFrames(frames...); err != nil {
		t.Fatal(err)
	}
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool { return wstest.IsTimeout(err) }

// headerLines turns a header map into "Name: value" lines for wstest.Options, taking Host out (a host
// route sets it) and returning it separately.
func headerLines(hdr map[string]string) (host string, lines []string) {
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			host = v
			continue
		}
		lines = append(lines, k+": "+v)
	}
	return host, lines
}
