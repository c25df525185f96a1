package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Headless Chromium loads the demo page over https from the TLS listener (the test certificate
// trusted by its SPKI hash) and chats in two tabs: the page dials wss:// by itself.
func TestTLSBrowserDemoChat(t *testing.T) {
	requireE2E(t, true, true)
	pki := newTestPKI(t)
	spec, spki := pki.leaf(t, "localhost", "localhost", "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startGateway(t, "-tls-listen", addr, "-tls-cert", spec)
	awaitTCP(t, addr)

	var s browserSummary
	runNodeJSON(t, 100*time.Second, &s, "browser-chat.js", "--url", "https://"+addr+"/", "--timeout", "20000",
		"--chromium", chromiumPath, "--spki", spki)
	t.Logf("browser steps: %v", s.Steps)
	if s.Error != "" {
		t.Fatalf("browser run failed: %s\nconsole errors: %v", s.Error, s.ConsoleErrors)
	}
	if len(s.Tabs) != 2 {
		t.Fatalf("got %d tabs in the summary, want 2", len(s.Tabs))
	}
	for i, tab := range s.Tabs {
		if tab.Token1Count != 1 || tab.Token2Count != 1 {
			t.Errorf("tab %d shows %q %d times and %q %d times, want once each; log: %q",
				i+1, s.Token1, tab.Token1Count, s.Token2, tab.Token2Count, tab.Items)
		}
	}
	if len(s.WSURLs) == 0 {
		t.Errorf("the page opened no WebSocket")
	}
	for _, u := range s.WSURLs {
		if !strings.HasPrefix(u, "wss://"+addr+"/ws") {
			t.Errorf("page dialled %q, want wss://%s/ws", u, addr)
		}
	}
	if !s.OK {
		t.Errorf("browser summary not ok: %+v", s)
	}
}
