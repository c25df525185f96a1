package gateway

import (
	"bytes"
	"sync"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/pool"
)

func newTestMessage(p *pool.Pool, payload []byte, loops int) *message {
	m := &message{topic: "t", op: ws.OpText, pool: p}
	m.frame = p.Get()
	m.frame.B = codec.AppendFrame(m.frame.B, m.op, payload)
	m.hdrLen = len(m.frame.B) - len(payload)
	m.refs.Store(int32(loops))
	return m
}

// Loops compress a broadcast independently, each with its own compressor, and
// all end up writing the one frame that was published first.
func TestDeflatedFrameSharedByLoops(t *testing.T) {
	var p pool.Pool
	payload := bytes.Repeat([]byte("wsgate broadcast "), 64)
	want, err := codec.NewCompressor().AppendFrame(nil, ws.OpText, payload)
	if err != nil {
		t.Fatal(err)
	}
	const loops = 8
	for round := 0; round < 20; round++ {
		m := newTestMessage(&p, payload, loops)
		got := make([][]byte, loops)
		var wg sync.WaitGroup
		for i := range loops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i] = m.deflatedFrame(codec.NewCompressor())
			}()
		}
		wg.Wait()
		published := m.deflated.Load()
		if published == nil {
			t.Fatal("no deflated frame published")
		}
		for i, f := range got {
			if !bytes.Equal(f, want) {
				t.Fatalf("loop %d wrote %d bytes, want the %d-byte compressed frame", i, len(f), len(want))
			}
			if &f[0] != &published.B[0] {
				t.Fatalf("loop %d kept its own copy instead of the published frame", i)
			}
		}
		// A late loop reuses the published frame without compressing.
		if f := m.deflatedFrame(nil); &f[0] != &published.B[0] {
			t.Fatal("a late loop did not reuse the published frame")
		}
		for range loops {
			m.release()
		}
		if m.refs.Load() != 0 {
			t.Fatalf("refs %d after every loop released", m.refs.Load())
		}
	}
}
