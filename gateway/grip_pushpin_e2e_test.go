package gateway_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Side by side with Pushpin itself (Debian 1.36): the same GRIP backend behind Pushpin and behind
// wsgate, the same client steps and publishes through pushpin-publish, the same transcript.

// pushpinProc is a running Pushpin (its runner, which starts condure, zurl, the proxy and the
// handler): clients on HTTP, publishes on Publish (host:port of its /publish/).
type pushpinProc struct {
	HTTP, Publish string
	*childProc
}

// startPushpin runs Pushpin routing everything to backend, or skips the test saying why not.
func startPushpin(t *testing.T, backend string) *pushpinProc {
	t.Helper()
	bin, err := exec.LookPath("pushpin")
	if err != nil {
		t.Skipf("pushpin is not installed (%v): the side-by-side run needs Debian's pushpin", err)
	}
	src, err := os.ReadFile("/etc/pushpin/pushpin.conf")
	if err != nil {
		t.Skipf("pushpin cannot start: %v", err)
	}
	dir := t.TempDir()
	for _, d := range []string{"run", "log"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	httpPort := freePort(t)
	off := freeRun(t, 5560, 4) - 5560 // the handler's ports 5560-5563, shifted
	var conf []string
	for _, line := range strings.Split(string(src), "\n") {
		k, _, _ := strings.Cut(line, "=")
		switch k {
		case "rundir":
			line = "rundir=" + filepath.Join(dir, "run")
		case "logdir":
			line = "logdir=" + filepath.Join(dir, "log")
		case "ipc_prefix":
			line = fmt.Sprintf("ipc_prefix=wsgt%d-", os.Getpid())
		case "port_offset":
			line = fmt.Sprintf("port_offset=%d", off)
		case "http_port":
			line = fmt.Sprintf("http_port=127.0.0.1:%d", httpPort)
		case "services":
			line = "services=condure,zurl,pushpin-proxy,pushpin-handler"
		case "[proxy]":
			// Debian's internal.conf points the proxy at a system zurl (/var/run/zurl): use the
			// runner's own.
			line += "\nzurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in" +
				"\nzurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream" +
				"\nzurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out"
		}
		conf = append(conf, line)
	}
	cfg := filepath.Join(dir, "pushpin.conf")
	if err := os.WriteFile(cfg, []byte(strings.Join(conf, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "routes"), []byte("* "+backend+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := startChild(t, childSpec{label: "pushpin", logMax: 32 << 10, grace: 5 * time.Second}, exec.Command(bin, "--config", cfg))
	if err != nil {
		t.Skipf("pushpin cannot start: %v", err)
	}
	pp := &pushpinProc{HTTP: fmt.Sprintf("127.0.0.1:%d", httpPort), Publish: fmt.Sprintf("127.0.0.1:%d", 5561+off), childProc: p}
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range []string{pp.HTTP, pp.Publish} {
		for {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				break
			}
			if p.exited() || time.Now().After(deadline) {
				t.Skipf("pushpin did not start listening on %s (log: %s)", addr, p.log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Listening is not ready: condure accepts before the proxy and handler behind it are
	// connected, and a WebSocket then gets "socket hang up" (seen under CI load). Ready is the
	// backend's own answer through Pushpin.
	for {
		if resp, err := http.Get("http://" + pp.HTTP + "/sockets"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if p.exited() || time.Now().After(deadline.Add(10*time.Second)) {
			t.Fatalf("pushpin did not proxy GET /sockets to the backend (log: %s)", p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return pp
}

// freeRun finds n consecutive free loopback ports at or above base.
func freeRun(t *testing.T, base, n int) int {
	t.Helper()
	for start := base + 300 + os.Getpid()%2000; start < 60000; start += n + 7 {
		ok := true
		for i := range n {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", start+i))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return start
		}
	}
	t.Fatal("no free run of ports")
	return 0
}

// gripTranscript runs the same client steps against a GRIP proxy and returns what the client saw.
func gripTranscript(t *testing.T, be *nodeServer, wsURL, publish string) []string {
	t.Helper()
	p := startWSPeer(t, wsURL+"/app?channel=a&channel=b", 30*time.Second)
	h := gripHello(t, p)
	var out []string
	out = append(out, fmt.Sprintf("hello grip=%v", h["grip"]))
	// Pushpin subscribes through its handler, asynchronously: a publish sent before that is lost to
	// the session. 300 ms sufficed on an idle host, not under a loaded one (a lost p1 then failed
	// the test after 5 s), so allow a second.
	settle := func() { time.Sleep(time.Second) }
	recv := func() {
		ev := nextMessage(t, p)
		if ev.Ev == "close" {
			out = append(out, fmt.Sprintf("close %d", ev.Code))
			return
		}
		out = append(out, string(ev.payload()))
	}
	settle()
	pushpinPublish(t, publish, "a", "p1")
	recv()
	p.send(t, map[string]any{"text": `{"cmd":"unsub","channel":"b"}`})
	settle()
	pushpinPublish(t, publish, "b", "p2")
	pushpinPublish(t, publish, "a", "p3")
	recv()
	p.send(t, map[string]any{"text": `{"cmd":"raw","text":"dropped"}`})
	p.send(t, map[string]any{"text": `{"cmd":"say","text":"marker"}`})
	recv()
	p.send(t, map[string]any{"text": `{"cmd":"detach"}`})
	deadline := time.Now().Add(5 * time.Second)
	for backendSockets(t, be) != 0 {
		if time.Now().After(deadline) {
			out = append(out, "backend socket kept")
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	pushpinPublish(t, publish, "a", "p4")
	recv()
	pushpinPublish(t, publish, "--close", "a")
	recv()
	return out
}

// TestGripPushpinSideBySide: wsgate and Pushpin 1.36 behave the same for subscribe, unsubscribe,
// dropped messages, detach and close.
func TestGripPushpinSideBySide(t *testing.T) {
	requireE2E(t, true, false)
	be := startGripBackend(t, "g1")
	pp := startPushpin(t, be.Addr())
	g := gripGateway(t, be)
	want := "hello grip=true,p1,p3,marker,p4,close 1000"
	viaPushpin := strings.Join(gripTranscript(t, be, "ws://"+pp.HTTP, pp.Publish), ",")
	viaWsgate := strings.Join(gripTranscript(t, be, "ws://"+g.Addr, g.Admin), ",")
	if viaPushpin != want {
		t.Errorf("Pushpin: %s, want %s", viaPushpin, want)
	}
	if viaWsgate != want {
		t.Errorf("wsgate: %s, want %s", viaWsgate, want)
	}
}
