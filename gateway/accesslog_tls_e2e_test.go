package gateway_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Access-log lines name the listener a request came on: "tls" for the TLS
// listener, "plain" for the other (the field was a constant before TLS).
func TestE2EAccessLogListener(t *testing.T) {
	requireE2E(t, false, false)
	path := filepath.Join(t.TempDir(), "access.log")
	g := startTLSGateway(t, "-access-log", path)
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: g.pki.clientConfig("localhost")}}
	for _, c := range []struct {
		client *http.Client
		url    string
	}{
		{tlsClient, "https://" + strings.TrimPrefix(g.wssURL("/?via=tls"), "wss://")},
		{&http.Client{Timeout: 5 * time.Second}, "http://" + g.Addr + "/?via=plain"},
	} {
		resp, err := c.client.Get(c.url)
		if err != nil {
			t.Fatalf("GET %s: %v", c.url, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for _, via := range []string{"tls", "plain"} {
		l := awaitLine(t, path, "page via "+via, func(l *logLine) bool { return strings.Contains(l.Path, "via="+via) })
		wantFields(t, l, map[string]any{"listener": via, "status": 200})
	}
}
