package gateway_test

// GRIP (backend-driven subscriptions) with real peers: a GRIP backend written with Node `ws`
// (testdata/grip-backend.js), Node `ws` clients (ws-peer.js), and Pushpin's own publisher,
// pushpin-publish (Debian package pushpin), against the admin listener's POST /publish/.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startGripBackend runs testdata/grip-backend.js on a free port; extra are its flags.
func startGripBackend(t *testing.T, name string, extra ...string) *nodeServer {
	t.Helper()
	port := freePort(t)
	args := append([]string{"grip-backend.js", "--port", fmt.Sprint(port), "--name", name}, extra...)
	cmd := exec.Command("node", args...)
	cmd.Dir = "testdata"
	p, err := startChild(t, childSpec{label: "grip-backend.js " + name, logMax: 32 << 10, readyLine: nodeReadyLine(port)}, cmd)
	if err != nil {
		t.Fatalf("start grip-backend.js: %v", err)
	}
	if _, err := p.awaitReady(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	return &nodeServer{Name: name, Port: port, script: "grip-backend.js", childProc: p}
}

// gripGateway starts a gateway with pool app on the backends, grip on, routed at /app.
func gripGateway(t *testing.T, backend *nodeServer, flags ...string) *testGateway {
	t.Helper()
	return startGateway(t, append([]string{"-backend", "app=" + backend.Addr() + ";grip", "-route", "/app=backend:app",
		"-route", "/topics/=topic:*"}, flags...)...)
}

// gripHello waits for the backend's hello (prefix stripped) and returns it.
func gripHello(t *testing.T, p *wsPeer) map[string]any {
	t.Helper()
	p.waitOpen(t)
	ev := nextMessage(t, p)
	var hello map[string]any
	if ev.Ev != "message" || json.Unmarshal(ev.payload(), &hello) != nil || hello["hello"] != true {
		t.Fatalf("first message %+v (%q), want the backend's hello without its prefix", ev, ev.payload())
	}
	return hello
}

// wantText waits for the next message and checks it is text want.
func wantText(t *testing.T, p *wsPeer, want string) {
	t.Helper()
	ev := nextMessage(t, p)
	if ev.Ev != "message" || ev.Binary || string(ev.payload()) != want {
		t.Fatalf("got %+v (%.80q), want text %.80q", ev, ev.payload(), want)
	}
}

// pushpinPublish runs pushpin-publish against the admin listener and returns its output.
func pushpinPublish(t *testing.T, admin string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("pushpin-publish")
	if err != nil {
		t.Fatalf("pushpin-publish is not installed (%v): run `make test`, which installs Debian's pushpin", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--spec", "http://" + admin}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pushpin-publish %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// pushpinPost posts a Pushpin publish request body to /publish/.
func pushpinPost(t *testing.T, admin, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+admin+"/publish/", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST /publish/: %v", err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestGripPushpinPublish: a client subscribed by its GRIP backend receives what Pushpin's own
// publisher sends through /publish/, next to what the backend sends; the publisher's close closes it.
func TestGripPushpinPublish(t *testing.T) {
	requireE2E(t, true, false)
	be := startGripBackend(t, "g1")
	g := gripGateway(t, be)
	p := startWSPeer(t, g.wsURL("/app?channel=news"), 30*time.Second)
	hello := gripHello(t, p)
	if hello["grip"] != true || hello["ext"] != "grip" {
		t.Fatalf("backend saw offer %v %q, want exactly grip", hello["grip"], hello["ext"])
	}
	// A plain topic subscriber of the same name: GRIP channels and topics are one namespace.
	plain := startWSPeer(t, g.wsURL("/topics/news"), 30*time.Second)
	plain.waitOpen(t)
	time.Sleep(100 * time.Millisecond)

	out := pushpinPublish(t, g.Admin, "news", "hello from pushpin")
	if !strings.Contains(out, "Published") {
		t.Fatalf("pushpin-publish said %q", out)
	}
	wantText(t, p, "hello from pushpin")
	wantText(t, plain, "hello from pushpin")

	// The backend's own traffic: prefixed goes through without its prefix, unprefixed is dropped.
	p.send(t, map[string]any{"text": `{"cmd":"raw","text":"not for the client"}`})
	p.send(t, map[string]any{"text": `{"cmd":"say","text":"from the backend"}`})
	wantText(t, p, "from the backend")

	// Several items in one request, in order; other formats ignored.
	code, body := pushpinPost(t, g.Admin, `{"items":[
		{"channel":"news","id":"1","formats":{"ws-message":{"content":"one"},"http-stream":{"content":"x"}}},
		{"channel":"news","id":"2","prev-id":"1","meta":{"k":"v"},"formats":{"ws-message":{"content-bin":"AAEC"}}},
		{"channel":"news","formats":{"ws-message":{"content":"three","type":"binary"}}}]}`)
	if code != http.StatusOK {
		t.Fatalf("POST /publish/: %d %s", code, body)
	}
	wantText(t, p, "one")
	if ev := nextMessage(t, p); !ev.Binary || !bytes.Equal(ev.payload(), []byte{0, 1, 2}) {
		t.Fatalf("content-bin: %+v", ev)
	}
	if ev := nextMessage(t, p); !ev.Binary || string(ev.payload()) != "three" {
		t.Fatalf("type binary: %+v", ev)
	}

	for range 3 { // the plain subscriber got the same three
		if ev := nextMessage(t, plain); ev.Ev != "message" {
			t.Fatalf("plain subscriber: %+v", ev)
		}
	}

	m := scrapeMetrics(t, g.Admin)
	m.atLeast(t, "wsgate_grip_sessions", `state="attached"`, 1)
	m.atLeast(t, "wsgate_grip_subscriptions", "", 1)
	m.atLeast(t, "wsgate_grip_control_messages_total", `type="subscribe"`, 1)
	m.atLeast(t, "wsgate_grip_dropped_messages_total", "", 1)

	pushpinPublish(t, g.Admin, "--close", "news")
	for _, peer := range []*wsPeer{p, plain} {
		for _, ev := range drainUntilClose(t, peer) {
			if ev.Ev == "close" && ev.Code != 1000 {
				t.Fatalf("close action: %+v, want close 1000", ev)
			}
		}
	}
}

// drainUntilClose reads events until the close event and returns them.
func drainUntilClose(t *testing.T, p *wsPeer) []peerEvent {
	t.Helper()
	var evs []peerEvent
	for {
		ev := nextMessage(t, p)
		evs = append(evs, ev)
		if ev.Ev == "close" {
			return evs
		}
		if ev.Ev == "message" {
			t.Fatalf("before close: unexpected message %.80q", ev.payload())
		}
	}
}
