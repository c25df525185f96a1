package codec

import (
	"strings"
	"testing"
)

// A request that came over the gateway's TLS listener is forwarded as https, whatever the client said.
func TestAppendForwardedHeadTLS(t *testing.T) {
	req, _, err := ParseRequestHead([]byte("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: http\r\n\r\n"), 8192)
	if err != nil {
		t.Fatal(err)
	}
	req.TLS = true
	got := string(AppendForwardedHead(nil, req, "", "ip"))
	if !strings.Contains(got, "\r\nX-Forwarded-Proto: https\r\n") || strings.Count(got, "X-Forwarded-Proto") != 1 {
		t.Fatalf("got %q, want one X-Forwarded-Proto: https", got)
	}
}
