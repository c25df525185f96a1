package gateway_test

// Issue 11 items 8, 9, 10 and 14 on the WebSocket path: ping floods, messages that never end, deflate
// amplification, and close codes as metric labels. The memory tests measure the gateway process's
// RSS from /proc with generous bounds; none of them depends on a timing.

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"github.com/wsgate/wsgate/codec/wstest"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rssPeak samples the gateway's RSS every 20 ms until stop is called, which returns the peak.
func rssPeak(t *testing.T, g *testGateway) (stop func() int64) {
	var peak atomic.Int64
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if r, err := g.rss(); err == nil && r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-quit:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(quit)
		<-done
		return peak.Load()
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// TestE2ELimitPingFlood: a client sends 30 MB of pings and never reads. Before the fix every ping got
// its pong queued in the gateway (RSS grew by ~25 MB); now only the most recent ping is answered while a
// pong is pending (RFC 6455 5.5.3), so RSS growth stays under 10 MB, and the last ping still gets its
// pong once the client reads.
func TestE2ELimitPingFlood(t *testing.T) {
	requireE2E(t, false, false)
	g := startGatewayProcess(t, "-drain-time", "100ms")
	watcher := upgradeRaw(t, g.Addr, "/ws", 0)
	flood := upgradeRaw(t, g.Addr, "/ws", 0)
	base, err := g.rss()
	if err != nil {
		t.Fatal(err)
	}
	stop := rssPeak(t, g)

	var chunk []byte
	ping := bytes.Repeat([]byte("p"), 125)
	for len(chunk) < 1<<20 {
		chunk = append(chunk, wstest.Encode(wstest.Frame{Fin: true, Op: wstest.OpPing, Payload: ping})...)
	}
	_ = flood.SetWriteDeadline(time.Now().Add(2 * time.Minute))
	sent := 0
	for sent < 30<<20 {
		n, err := flood.Write(chunk)
		sent += n
		if err != nil {
			t.Fatalf("flood stopped after %d bytes: %v", sent, err)
		}
	}
	// Frames are handled in order: once the watcher sees the flooder's message, every ping before it
	// has been handled.
	writeFrames(t, flood, wstest.Frame{Fin: true, Op: wstest.OpPing, Payload: []byte("last-ping")},
		wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("flood over")})
	for deadline := time.Now().Add(time.Minute); ; {
		f, err := watcher.ReadFrame(deadline)
		if err != nil {
			t.Fatalf("watcher never saw the flooder's message: %v", err)
		}
		if string(f.Payload) == "flood over" {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
	peak := stop()
	t.Logf("gateway RSS %.1f MiB before %d MiB of pings, peak %.1f MiB (+%.1f MiB)", mib(base), sent>>20, mib(peak), mib(peak-base))
	if peak-base >= 10<<20 {
		t.Errorf("gateway RSS grew by %.1f MiB under a ping flood from a client that never reads, want < 10 MiB", mib(peak-base))
	}
	// The client reads now: the pong of its most recent ping arrives.
	for deadline := time.Now().Add(30 * time.Second); ; {
		f, err := flood.ReadFrame(deadline)
		if err != nil {
			t.Fatalf("no pong for the last ping: %v", err)
		}
		if f.Op == wstest.OpPong && string(f.Payload) == "last-ping" {
			break
		}
	}
}

// TestE2ELimitMessageTimeout: ten connections each send 4 MB of an unfinished fragmented message (the
// default -max-message-bytes is 4 MiB) and stop. -message-timeout closes each with 1008 (before the
// fix: never, the 40 MB stayed until the idle timeout, and non-empty fragments reset that), counts
// them, and the gateway's RSS returns to within 10 MB of where it started.
func TestE2ELimitMessageTimeout(t *testing.T) {
	requireE2E(t, false, false)
	g := startGatewayProcess(t, "-message-timeout", "2s", "-drain-time", "100ms")
	conns := make([]*rawConn, 10)
	for i := range conns {
		conns[i] = upgradeRaw(t, g.Addr, "/ws", 0)
	}
	base, err := g.rss()
	if err != nil {
		t.Fatal(err)
	}
	stop := rssPeak(t, g)
	part := bytes.Repeat([]byte{'m'}, 1_000_000)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writeFrames(t, c, wstest.Frame{Op: wstest.OpBinary, Payload: part}, wstest.Frame{Op: wstest.OpCont, Payload: part},
				wstest.Frame{Op: wstest.OpCont, Payload: part}, wstest.Frame{Op: wstest.OpCont, Payload: part})
		}()
	}
	wg.Wait()
	results := make([]wstest.CloseResult, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.ReadUntilClose(15 * time.Second)
		}()
	}
	wg.Wait()
	peak := stop()
	for i, r := range results {
		if !r.GotClose || r.Code != 1008 {
			t.Errorf("conn %d holding an unfinished 4 MB message: %v, want close 1008", i, r)
		}
	}
	var after int64
	for deadline := time.Now().Add(30 * time.Second); ; {
		after, _ = g.rss()
		if after-base < 10<<20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("gateway RSS %.1f MiB before, peak %.1f MiB holding 10 × 4 MB, %.1f MiB after the closes", mib(base), mib(peak), mib(after))
	if after-base >= 10<<20 {
		t.Errorf("gateway RSS %.1f MiB after the unfinished messages were closed, want within 10 MiB of %.1f MiB", mib(after), mib(base))
	}
	scrapeMetrics(t, g.Admin).atLeast(t, "wsgate_timeouts_total", `kind="message"`, 10)
}

// TestE2ELimitEmptyContinuationsNotActivity: a client keeps an unfinished message alive with empty
// continuation frames and pings, and answers no ping. Before the fix each of those frames counted as
// activity and the connection lived on; now it is closed by -idle-timeout (1001).
func TestE2ELimitEmptyContinuationsNotActivity(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	g := startGateway(t, "-idle-timeout", "2s", "-ping-interval", "1s", "-drain-time", "100ms")
	c := upgradeRaw(t, g.Addr, "/ws", 0)
	writeFrames(t, c, wstest.Frame{Op: wstest.OpText, Payload: []byte("never ")})
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		keep := append(wstest.Encode(wstest.Frame{Op: wstest.OpCont}), wstest.Encode(wstest.Frame{Fin: true, Op: wstest.OpPing, Payload: []byte("k")})...)
		for {
			select {
			case <-quit:
				return
			case <-time.After(200 * time.Millisecond):
			}
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second)) // writeFrames left a deadline
			if _, err := c.Write(keep); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	r := c.ReadUntilClose(6 * time.Second)
	t.Logf("closed after %v: %v", time.Since(start).Round(time.Millisecond), r)
	if !r.GotClose || r.Code != 1001 {
		t.Fatalf("after %v of empty continuations and pings: %v, want close 1001 (idle timeout 2s)", time.Since(start).Round(time.Millisecond), r)
	}
}

// upgradeDeflate dials and upgrades with permessage-deflate offered.
func upgradeDeflate(t *testing.T, addr, path string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	req := strings.Replace(wstest.UpgradeRequest(addr, path, wstest.NewKey()), "\r\n\r\n",
		"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1)
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp := readResponse(t, c, 5*time.Second)
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		t.Fatalf("deflate upgrade: %d, extensions %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	return c
}

// deflateFrame is one compressed client message (RFC 7692 7.2.1: sync flush, tail removed, RSV1).
func deflateFrame(t *testing.T, op byte, payload []byte) wstest.Frame {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	if _, err := w.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return wstest.Frame{Fin: true, RSV: 4, Op: op, Payload: bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})}
}

// prose is text that compresses like ordinary messages do (a few times, not hundreds).
func prose(r *rand.Rand, n int) []byte {
	words := strings.Fields("the gateway holds a million sockets and relays every message to each subscriber " +
		"of its topic while the bus orders them across nodes so that browsers see one order " +
		"latency percentiles memory per connection kernel buffers backpressure slow consumer")
	var b []byte
	for len(b) < n {
		b = append(b, words[r.Intn(len(words))]...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(r.Intn(1000)), 10)
		b = append(b, ' ')
	}
	return b[:n]
}

// TestE2ECompressInflateRatio: with -compression, a message that inflates more than -max-inflate-ratio
// (default 100) times its compressed size closes its sender with 1009 and reaches nobody (before the
// fix: 1 KiB on the wire became a 1 MiB broadcast); an ordinary compressed message passes.
func TestE2ECompressInflateRatio(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	g := startGateway(t, "-compression", "-drain-time", "100ms")
	sub := upgradeRaw(t, g.Addr, "/ws", 0)
	sender := upgradeDeflate(t, g.Addr, "/ws")

	normal := prose(rand.New(rand.NewSource(1)), 64<<10)
	f := deflateFrame(t, wstest.OpText, normal)
	t.Logf("ordinary message: %d bytes compressed to %d (%.1f:1)", len(normal), len(f.Payload), float64(len(normal))/float64(len(f.Payload)))
	writeFrames(t, sender, f)
	if got, err := sub.ReadFrame(time.Now().Add(5 * time.Second)); err != nil || !bytes.Equal(got.Payload, normal) {
		t.Fatalf("ordinary compressed message: %d bytes, %v; want the %d-byte message", len(got.Payload), err, len(normal))
	}

	bomb := deflateFrame(t, wstest.OpBinary, make([]byte, 1<<20))
	t.Logf("amplifying message: 1 MiB compressed to %d bytes (%d:1)", len(bomb.Payload), (1<<20)/len(bomb.Payload))
	writeFrames(t, sender, bomb)
	if r := sender.ReadUntilClose(5 * time.Second); !r.GotClose || r.Code != 1009 {
		t.Errorf("sender of a %d:1 message: %v, want close 1009", (1<<20)/len(bomb.Payload), r)
	}
	other := upgradeRaw(t, g.Addr, "/ws", 0)
	writeFrames(t, other, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("after")})
	for {
		got, err := sub.ReadFrame(time.Now().Add(5 * time.Second))
		if err != nil {
			t.Fatalf("subscriber: %v", err)
		}
		if len(got.Payload) == 1<<20 {
			t.Fatalf("subscriber received the 1 MiB inflated message")
		}
		if string(got.Payload) == "after" {
			break
		}
	}
}

// chatty is text that compresses about 60 times: under -max-inflate-ratio, but one 64 KiB read of it
// inflates to megabytes.
func chatty(r *rand.Rand, n int) []byte {
	var b []byte
	for len(b) < n {
		b = append(b, "user joined the room; "...)
		if len(b)%512 < 24 {
			b = strconv.AppendInt(b, int64(r.Intn(1e9)), 10)
		}
	}
	return b[:n]
}

// TestE2ECompressInflateBudget: a burst of compressed messages (64 × 64 KiB at about 60:1, 4 MiB of
// inflating from one read) far over one client's inflate share of a loop turn is throttled (the client
// is not read until the next turn, counted in wsgate_inflate_throttles_total), not dropped: every
// message arrives, in order. Before the fix every message arrived too, but nothing was throttled: the
// whole burst was inflated in one turn (the metric did not exist).
func TestE2ECompressInflateBudget(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	g := startGateway(t, "-compression", "-drain-time", "100ms")
	sub := upgradeRaw(t, g.Addr, "/ws", 0)
	sender := upgradeDeflate(t, g.Addr, "/ws")
	r := rand.New(rand.NewSource(2))
	const n = 64
	var frames []wstest.Frame
	var want [][]byte
	for i := range n {
		p := append(binary.BigEndian.AppendUint32(nil, uint32(i)), chatty(r, 64<<10)...)
		want = append(want, p)
		frames = append(frames, deflateFrame(t, wstest.OpBinary, p))
	}
	writeFrames(t, sender, frames...)
	for i := range n {
		got, err := sub.ReadFrame(time.Now().Add(10 * time.Second))
		if err != nil {
			t.Fatalf("message %d of %d: %v", i, n, err)
		}
		if !bytes.Equal(got.Payload, want[i]) {
			t.Fatalf("message %d: %d bytes starting %x, want message %d", i, len(got.Payload), got.Payload[:min(4, len(got.Payload))], i)
		}
	}
	scrapeMetrics(t, g.Admin).atLeast(t, "wsgate_inflate_throttles_total", "", 1)
}

// TestE2EMetricCloseCodes: clients closing with 40 private (4xxx) and 10 registered (3xxx) codes make
// the gateway echo them, but wsgate_closes_total keeps one series per standard code plus "3xxx",
// "4xxx" and "other" (before the fix: one series per code a client chose).
func TestE2EMetricCloseCodes(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	g := startGateway(t, "-drain-time", "100ms")
	codes := []int{1000, 1001}
	for i := range 40 {
		codes = append(codes, 4000+i*7)
	}
	for i := range 10 {
		codes = append(codes, 3000+i*11)
	}
	for _, code := range codes {
		c := upgradeRaw(t, g.Addr, "/ws", 0)
		writeFrames(t, c, wstest.Frame{Fin: true, Op: wstest.OpClose, Payload: binary.BigEndian.AppendUint16(nil, uint16(code))})
		if r := c.ReadUntilClose(5 * time.Second); !r.GotClose || r.Code != code {
			t.Fatalf("close %d: %v, want it echoed", code, r)
		}
	}
	allowed := map[string]bool{"none": true, "3xxx": true, "4xxx": true, "other": true}
	for _, c := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014} {
		allowed[strconv.Itoa(c)] = true
	}
	var m metrics
	for deadline := time.Now().Add(5 * time.Second); ; {
		m = scrapeMetrics(t, g.Admin)
		if v, _ := m.get("wsgate_closes_total", ""); v >= float64(len(codes)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	byCode := m.byLabel("wsgate_closes_total", "code")
	var bad []string
	for label := range byCode {
		if !allowed[label] {
			bad = append(bad, label)
		}
	}
	if len(bad) > 0 {
		t.Errorf("wsgate_closes_total has %d series for client-chosen codes, e.g. %q; want them bucketed", len(bad), bad[:min(5, len(bad))])
	}
	if byCode["4xxx"] != 40 || byCode["3xxx"] != 10 || byCode["1000"] != 1 || byCode["1001"] != 1 {
		t.Errorf("wsgate_closes_total by code: %v, want 4xxx=40 3xxx=10 1000=1 1001=1", fmt.Sprint(byCode))
	}
}

// closeCodeLabel is the wsgate_closes_total label the gateway uses for a close code it sends: standard
// codes as numbers, the ranges clients choose from bucketed.
func closeCodeLabel(code int) string {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return strconv.Itoa(code)
	case code >= 3000 && code <= 3999:
		return "3xxx"
	case code >= 4000 && code <= 4999:
		return "4xxx"
	}
	return "other"
}
