package loadgen

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// lossyServer is a minimal WebSocket broadcast server for the tests: every
// message goes to every client in one order, except that it drops sequence
// number dropSeq for the client that registered second and sends dupSeq twice
// to the client that registered third, so the generator's bookkeeping must
// see exactly one missing and one duplicate delivery.
type lossyServer struct {
	ln      net.Listener
	mu      sync.Mutex
	clients []net.Conn
	dropSeq uint64
	dupSeq  uint64
	wg      sync.WaitGroup
}

func startLossyServer(t *testing.T) *lossyServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startLossyServerOn(t, ln)
}

// startLossyServerOn serves on ln (a TLS listener in tlsclient_test.go).
func startLossyServerOn(t *testing.T, ln net.Listener) *lossyServer {
	t.Helper()
	s := &lossyServer{ln: ln, dropSeq: 3, dupSeq: 5}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.clients {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *lossyServer) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	r := bufio.NewReader(c)
	key := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Sec-WebSocket-Key") {
			key = strings.TrimSpace(v)
		}
	}
	s.mu.Lock()
	_, err := fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", wstest.AcceptKey(key)) // the shared client's, not the generator's own: an independent oracle
	s.clients = append(s.clients, c)
	s.mu.Unlock()
	if err != nil {
		return
	}
	var buf []byte
	chunk := make([]byte, 4096)
	for {
		n, err := r.Read(chunk)
		if err != nil {
			return
		}
		buf = append(buf, chunk[:n]...)
		for {
			f, m, err := ParseFrame(buf)
			if err != nil || m == 0 {
				break
			}
			if f.Op == OpBinary || f.Op == OpText {
				s.broadcast(f.Op, f.Payload)
			}
			buf = buf[m:]
		}
	}
}

func (s *lossyServer) broadcast(op byte, p []byte) {
	seq := binary.LittleEndian.Uint64(p)
	frame := AppendServerFrame(nil, op, p)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.clients {
		switch {
		case i == 1 && seq == s.dropSeq:
			continue
		case i == 2 && seq == s.dupSeq:
			_, _ = c.Write(frame)
		}
		_, _ = c.Write(frame)
	}
}

func TestBroadcastCountsMissingAndDuplicates(t *testing.T) {
	s := startLossyServer(t)
	const conns = 12
	res, err := Run(Config{
		Scenario: "broadcast", URL: "ws://" + s.ln.Addr().String() + "/ws", Conns: conns,
		Sources: "127.0.1.1-127.0.1.4", Loops: 2, MaxInflight: 100, HandshakeTimeout: 5 * time.Second,
		Duration: 200 * time.Millisecond, Drain: 2 * time.Second, Settle: 100 * time.Millisecond,
		Rate: 50, Size: 32, Deadline: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	b := res.Broadcast
	if res.Connect.Opened != conns || b.Subscribers != conns {
		t.Fatalf("opened %d subscribers %d, want %d", res.Connect.Opened, b.Subscribers, conns)
	}
	if b.Published != 10 || b.Expected != 10*conns {
		t.Fatalf("published %d expected %d, want 10 and %d", b.Published, b.Expected, 10*conns)
	}
	if b.Missing != 1 || b.Duplicates != 1 || b.Received != b.Expected-1 || b.Foreign != 0 {
		t.Fatalf("missing %d dup %d received %d foreign %d; want 1, 1, %d, 0", b.Missing, b.Duplicates, b.Received, b.Foreign, b.Expected-1)
	}
	if b.Latency.Count != uint64(b.Expected) { // every delivery, the duplicate included
		t.Fatalf("latency samples %d, want %d", b.Latency.Count, b.Expected)
	}
	var out bytes.Buffer
	if err := res.WriteJSON(&out); err != nil || !bytes.HasPrefix(out.Bytes(), []byte(`{"scenario":"broadcast"`)) {
		t.Fatalf("json %q err %v", out.String(), err)
	}
}

func TestIdleAgainstServer(t *testing.T) {
	s := startLossyServer(t)
	res, err := Run(Config{
		Scenario: "idle", URL: "ws://" + s.ln.Addr().String() + "/ws", Conns: 50,
		Sources: "127.0.1.1-127.0.1.8", Loops: 2, MaxInflight: 100, HandshakeTimeout: 5 * time.Second,
		Hold: 50 * time.Millisecond, Deadline: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connect.Opened != 50 || res.Connect.Failed != 0 {
		t.Fatalf("opened %d failed %d", res.Connect.Opened, res.Connect.Failed)
	}
}
