package gateway_test

// Process-level: tests that bound the gateway's memory by reading its RSS from /proc, so the gateway
// must be a process of its own (in the test process, the clients' memory would count too): a tunnel
// whose client never reads, uploads waiting for a server that drops SYNs, and slow consumers.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// TestE2EBackpressureTunnel: a backend floods a tunnel whose client never
// reads. The gateway must stop reading the backend once the client's outbound
// backlog is over its cap, so the flood stalls in the kernel's socket buffers
// (the backend's writes block) instead of piling up in the gateway's memory.
// Without backpressure the gateway reads loopback at GB/s into its heap.
func TestE2EBackpressureTunnel(t *testing.T) {
	requireE2E(t, false, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var written atomic.Int64
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		key := req.Header.Get("Sec-WebSocket-Key")
		_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + wstest.AcceptKey(key) + "\r\n\r\n"))
		// Unmasked binary frames of 64 KiB, as fast as the gateway takes them, for at most 6 s.
		frame := append([]byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, make([]byte, 64<<10)...)
		stop := time.Now().Add(6 * time.Second)
		for time.Now().Before(stop) {
			_ = c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			n, _ := c.Write(frame)
			written.Add(int64(n))
		}
	}()

	g := startGatewayProcess(t, "-backend", "flood="+ln.Addr().String(), "-route", "/flood=backend:flood")
	client := upgradeRaw(t, g.Addr, "/flood", 0)
	_ = client // never read from: its receive window fills and stays full

	time.Sleep(2 * time.Second)
	w1 := written.Load()
	rss1, err := g.rss()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	w2 := written.Load()
	rss2, _ := g.rss()
	t.Logf("backend wrote %d MiB after 2 s, %d MiB after 4 s; gateway RSS %d MiB, %d MiB",
		w1>>20, w2>>20, rss1>>20, rss2>>20)
	// The stall: socket buffers on three sockets plus the 256 KiB cap, a few MiB;
	// unthrottled, loopback moves that much in milliseconds.
	if w2-w1 > 8<<20 {
		t.Errorf("backend kept writing %d MiB while the client read nothing: no backpressure", (w2-w1)>>20)
	}
	if rss2 > 100<<20 {
		t.Errorf("gateway RSS %d MiB: the flood is in its memory", rss2>>20)
	}
	if g.exited() {
		t.Fatal("gateway exited")
	}

	// The client starts reading: the paused backend must be read again.
	var got int64
	buf := make([]byte, 256<<10)
	stop := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(stop) {
		_ = client.SetReadDeadline(stop)
		n, err := client.R.Read(buf)
		got += int64(n)
		if err != nil {
			break
		}
	}
	w3 := written.Load()
	t.Logf("after the client read %d MiB in 1.5 s, the backend had written %d MiB more", got>>20, (w3-w2)>>20)
	if w3-w2 < 16<<20 || got < 16<<20 {
		t.Errorf("the tunnel did not resume: client read %d MiB, backend wrote %d MiB more", got>>20, (w3-w2)>>20)
	}
}

// TestE2EBackpressureWhileConnecting: uploads to a pool whose server does
// not answer SYNs (a listener with a full accept queue) wait for the connect;
// meanwhile the clients are not read, so the gateway does not buffer their
// bodies. Memory stays flat instead of growing by 64 KiB per tick per client.
func TestE2EBackpressureWhileConnecting(t *testing.T) {
	requireE2E(t, false, false)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // never accepted from: SYNs beyond the queue are dropped
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for i := 0; i < 4; i++ { // fill the accept queue
		go func() {
			if c, err := net.DialTimeout("tcp", addr, 8*time.Second); err == nil {
				time.Sleep(8 * time.Second)
				c.Close()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)

	g := startGatewayProcess(t, "-backend", "bh="+addr+";connect-timeout=6s", "-route", "/=backend:bh")
	before, _ := g.rss()
	chunk := make([]byte, 64<<10)
	for i := 0; i < 10; i++ {
		c, err := net.DialTimeout("tcp", g.Addr, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 1<<30)
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(4 * time.Second)
	after, _ := g.rss()
	t.Logf("gateway RSS %d MiB before, %d MiB after 4 s of 10 uploads waiting for a connect", before>>20, after>>20)
	if after-before > 40<<20 {
		t.Fatalf("gateway RSS grew by %d MiB while uploads waited for their server: their bodies were read into memory", (after-before)>>20)
	}
}

// flSubscriber reads binary messages "[4-byte index][pattern]" and records when each index arrived.
type flSubscriber struct {
	mu      sync.Mutex
	at      []time.Time // by index; zero: not (yet) received
	got     int
	bad     []string
	end     error
	done    chan struct{}
	conn    *rawConn
	msgSize int
}

func (s *flSubscriber) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}

func flPattern(i, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 4; j < size; j++ {
		b[j] = byte(i*7 + j)
	}
	return b
}

func newFlSubscriber(c *rawConn, n, size int) *flSubscriber {
	s := &flSubscriber{at: make([]time.Time, n), done: make(chan struct{}), conn: c, msgSize: size}
	go func() {
		defer close(s.done)
		for {
			f, err := c.ReadFrame(time.Now().Add(2 * time.Minute))
			if err != nil {
				s.mu.Lock()
				s.end = err
				s.mu.Unlock()
				return
			}
			if f.Op == wstest.OpClose {
				s.mu.Lock()
				s.end = fmt.Errorf("close frame %x", f.Payload[:min(2, len(f.Payload))])
				s.mu.Unlock()
				return
			}
			if f.Op != wstest.OpBinary {
				continue
			}
			s.mu.Lock()
			switch i := int(binary.BigEndian.Uint32(f.Payload)); {
			case len(f.Payload) != s.msgSize || i >= len(s.at) || !bytes.Equal(f.Payload, flPattern(i, s.msgSize)):
				s.bad = append(s.bad, fmt.Sprintf("message of %d bytes, index %d, not the one sent", len(f.Payload), i))
			case !s.at[i].IsZero():
				s.bad = append(s.bad, fmt.Sprintf("message %d twice", i))
			default:
				if i != s.got {
					s.bad = append(s.bad, fmt.Sprintf("message %d arrived as number %d (order)", i, s.got))
				}
				s.at[i] = time.Now()
				s.got++
			}
			s.mu.Unlock()
		}
	}()
	return s
}

// Subscribers that never read, -max-outbound 256 KiB, and 1000 binary messages of 64 KiB from a
// WebSocket publisher: the slow ones are closed (1008 or a TCP close) and counted, gateway RSS stays
// under 200 MB, and a normal subscriber (and the publisher, which is subscribed too) gets every message.
func TestE2EFailureSlowConsumer(t *testing.T) {
	requireE2E(t, false, false)
	const n, size = 1000, 64 << 10
	g := startGatewayProcess(t, "-max-outbound", "262144", "-max-message-bytes", "131072", "-drain-time", "100ms")
	base, err := g.rss()
	if err != nil {
		t.Fatal(err)
	}
	// Four subscribers that never read: without the cap each would hold its own copy of the 64 MiB
	// stream in the gateway's outbound buffers, far over the RSS bound.
	const slowN = 4
	var slow []*rawConn
	for range slowN {
		slow = append(slow, upgradeRaw(t, g.Addr, "/ws", 0)) // never read from
	}
	normal := newFlSubscriber(upgradeRaw(t, g.Addr, "/ws", 0), n, size)
	pubConn := upgradeRaw(t, g.Addr, "/ws", 0)
	self := newFlSubscriber(pubConn, n, size)

	var peak atomic.Int64
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		for {
			if r, err := g.rss(); err == nil && r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stopRSS:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	sentAt := make([]time.Time, n)
	start := time.Now()
	for i := range n {
		// Publish at the pace of the normal subscriber (at most 8 messages ahead of it).
		for wait := time.Now().Add(30 * time.Second); normal.count() < i-8; {
			if time.Now().After(wait) {
				t.Fatalf("normal subscriber stuck at %d of %d messages (end: %v)", normal.count(), i, normal.end)
			}
			time.Sleep(200 * time.Microsecond)
		}
		sentAt[i] = time.Now()
		writeFrames(t, pubConn, wstest.Frame{Fin: true, Op: wstest.OpBinary, Payload: flPattern(i, size)})
	}
	for wait := time.Now().Add(30 * time.Second); (normal.count() < n || self.count() < n) && time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	close(stopRSS)
	<-rssDone

	for name, s := range map[string]*flSubscriber{"normal subscriber": normal, "publisher (subscribed)": self} {
		s.mu.Lock()
		if s.got != n {
			t.Errorf("%s: received %d of %d messages (ended: %v)", name, s.got, n, s.end)
		}
		if len(s.bad) > 0 {
			t.Errorf("%s: %d bad deliveries, first %v", name, len(s.bad), s.bad[:min(3, len(s.bad))])
		}
		s.mu.Unlock()
	}
	var lat []time.Duration
	normal.mu.Lock()
	for i, at := range normal.at {
		if !at.IsZero() {
			lat = append(lat, at.Sub(sentAt[i]))
		}
	}
	normal.mu.Unlock()
	slices.Sort(lat)
	if len(lat) > 0 {
		q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		t.Logf("normal subscriber: %d messages of 64 KiB in %v; latency p50 %v p99 %v max %v", len(lat), elapsed.Round(time.Millisecond),
			q(0.5).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	}
	t.Logf("gateway RSS: %.1f MiB at start, peak %.1f MiB while %d × 64 KiB went out", float64(base)/(1<<20), float64(peak.Load())/(1<<20), n)
	if p := peak.Load(); p >= 200<<20 {
		t.Errorf("gateway RSS peaked at %.1f MiB, want < 200 MiB", float64(p)/(1<<20))
	}

	m := scrapeMetrics(t, g.Admin)
	if got, _ := m.get("wsgate_slow_consumer_closes_total", ""); got != slowN {
		t.Errorf("wsgate_slow_consumer_closes_total = %v, want %d (the subscribers that never read)", got, slowN)
	}
	// The slow clients now read what the kernel holds: the end is a close 1008 or a TCP close.
	ends := map[string]int{}
	slowEnds := make([]flEnd, len(slow))
	var wg sync.WaitGroup
	for i, c := range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slowEnds[i] = flWaitEnd(c, time.Now().Add(15*time.Second))
		}()
	}
	wg.Wait()
	for i, e := range slowEnds {
		ends[e.String()]++
		switch {
		case e.kind == "timeout":
			t.Errorf("slow subscriber %d: connection still open after the publish run", i)
		case e.kind == "close" && e.code != 1008:
			t.Errorf("slow subscriber %d: close %d, want 1008 (or a TCP close)", i, e.code)
		}
	}
	t.Logf("slow subscribers ended with %v", ends)
	if g.exited() {
		t.Errorf("gateway exited")
	}
}
