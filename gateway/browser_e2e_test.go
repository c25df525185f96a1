package gateway_test

// Headless Debian Chromium (via playwright-core) on the built-in demo page.

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// browserSummary mirrors the JSON line printed by testdata/browser-chat.js.
type browserSummary struct {
	OK            bool     `json:"ok"`
	Error         string   `json:"error"`
	Steps         []string `json:"steps"`
	WSURLs        []string `json:"wsUrls"`
	ConsoleErrors []string `json:"consoleErrors"`
	Token1        string   `json:"token1"`
	Token2        string   `json:"token2"`
	Tabs          []struct {
		Items       []string `json:"items"`
		Token1Count int      `json:"token1Count"`
		Token2Count int      `json:"token2Count"`
	} `json:"tabs"`
}

// Test 5a: headless Chromium opens the demo page in two tabs; a message typed in one shows in both.
func TestE2EBrowserDemoChat(t *testing.T) {
	requireE2E(t, true, true)
	g := startGateway(t)

	// The page itself, as the gateway serves it.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + g.Addr + "/")
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %q, want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, id := range []string{`id="msg"`, `id="send"`, `id="log"`} {
		if !bytes.Contains(body, []byte(id)) {
			t.Errorf("demo page lacks %s", id)
		}
	}

	var s browserSummary
	runNodeJSON(t, 100*time.Second, &s, "browser-chat.js", "--url", "http://"+g.Addr+"/", "--timeout", "20000",
		"--chromium", chromiumPath)
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
	wantURL := "ws://" + g.Addr + "/ws"
	if len(s.WSURLs) == 0 {
		t.Errorf("the page opened no WebSocket")
	}
	for _, u := range s.WSURLs {
		if !strings.HasPrefix(u, wantURL) {
			t.Errorf("page dialled %q, want %s", u, wantURL)
		}
	}
	if !s.OK {
		t.Errorf("browser summary not ok: %+v", s)
	}
}
