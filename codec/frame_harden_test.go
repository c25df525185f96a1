package codec

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/pool"
)

// A fragment's event carries its own bytes, so the gateway can tell an empty
// continuation (no progress, not activity) from a real one; InMessage follows
// the message in progress.
func TestParserFragmentPayload(t *testing.T) {
	p := &Parser{Pool: new(pool.Pool)}
	var d Decoder
	for i, f := range []struct {
		frame []byte
		kind  EventKind
		pl    string
		in    bool
	}{
		{cf(false, 0, ws.OpText, []byte("ab")), KindNone, "ab", true},
		{cf(false, 0, ws.OpContinuation, nil), KindNone, "", true},
		{cf(true, 0, ws.OpPing, []byte("p")), KindPing, "p", true},
		{cf(true, 0, ws.OpContinuation, []byte("c")), KindMessage, "abc", false},
	} {
		n, e, err := p.Next(&d, bytes.Clone(f.frame))
		if err != nil || n != len(f.frame) || e.Kind != f.kind || string(e.Payload) != f.pl || d.InMessage() != f.in {
			t.Fatalf("frame %d: n=%d kind=%v payload=%q in=%v err=%v; want kind %v payload %q in=%v", i, n, e.Kind, e.Payload, d.InMessage(), err, f.kind, f.pl, f.in)
		}
	}
	p.Release(&d)
	if p.Dropped != 0 {
		t.Fatalf("Dropped = %d after a finished message, want 0", p.Dropped)
	}
}

// Releasing an unfinished message lets its buffer go instead of pooling it, and counts it.
func TestParserReleaseUnfinishedDrops(t *testing.T) {
	p := &Parser{Pool: new(pool.Pool)}
	var d Decoder
	frame := cf(false, 0, ws.OpBinary, make([]byte, 100<<10))
	if _, _, err := p.Next(&d, frame); err != nil {
		t.Fatal(err)
	}
	p.Release(&d)
	if p.Dropped < 100<<10 {
		t.Fatalf("Dropped = %d, want >= %d", p.Dropped, 100<<10)
	}
	if d.InMessage() {
		t.Fatal("still in a message after Release")
	}
}

// MaxInflateRatio: a message inflating more than that many times its
// compressed size is 1009; an ordinary one passes, and short messages of
// repeated bytes up to minInflateAllowance pass whatever their ratio.
func TestParserInflateRatio(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	words := []string{"alpha ", "beta ", "gamma ", "delta ", "epsilon ", "zeta ", "eta ", "theta "}
	var prose []byte
	for len(prose) < 64<<10 {
		prose = append(prose, words[r.Intn(len(words))]...)
	}
	for _, c := range []struct {
		name    string
		payload []byte
		code    ws.StatusCode
	}{
		{"ordinary", prose, 0},
		{"1 KiB of spaces", bytes.Repeat([]byte(" "), minInflateAllowance), 0},
		{"1 MiB of zeros", make([]byte, 1<<20), ws.StatusMessageTooBig},
		{"64 KiB of zeros", make([]byte, 64<<10), ws.StatusMessageTooBig},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &Parser{Pool: new(pool.Pool), MaxMessage: 4 << 20, MaxInflateRatio: 100}
			var d Decoder
			d.SetDeflate(true)
			z := deflate(t, c.payload)
			_, e, err := p.Next(&d, cf(true, rsv1, ws.OpBinary, z))
			if code := closeCode(err); code != c.code {
				t.Fatalf("%d bytes deflated to %d (%d:1): err %v, want close code %d", len(c.payload), len(z), len(c.payload)/len(z), err, c.code)
			}
			if c.code == 0 && !bytes.Equal(e.Payload, c.payload) {
				t.Fatalf("inflated %d bytes, want %d", len(e.Payload), len(c.payload))
			}
			if p.Inflated == 0 || p.Inflated > int64(max(100*len(z), minInflateAllowance))+int64(len(p.chunk)) {
				t.Fatalf("Inflated = %d for %d compressed bytes: work not bounded by the ratio", p.Inflated, len(z))
			}
			p.Release(&d)
		})
	}
}
