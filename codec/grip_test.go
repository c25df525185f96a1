package codec

import (
	"errors"
	"testing"

	"github.com/gobwas/ws"
)

func TestNextServerFrame(t *testing.T) {
	f := AppendServerFrame(nil, false, ws.OpText, []byte("m:abc"))
	got, ok, err := NextServerFrame(append(f, 0x81), 0)
	if !ok || err != nil || got.Fin || got.OpCode != ws.OpText || string(got.Payload) != "m:abc" || got.Len != len(f) {
		t.Fatalf("%+v %v %v", got, ok, err)
	}
	if _, ok, err := NextServerFrame(f[:len(f)-1], 0); ok || err != nil {
		t.Fatalf("incomplete frame: %v %v", ok, err)
	}
	for _, tc := range []struct {
		frame []byte
		max   int
		err   error
	}{
		{[]byte{0x81, 0x82, 1, 2, 3, 4, 'a', 'b'}, 0, ErrMaskedServerFrame},
		{[]byte{0xc1, 0x00}, 0, ErrReservedBits},
		{AppendFrame(nil, ws.OpBinary, make([]byte, 300)), 200, ErrServerFrameTooBig},
	} {
		if _, _, err := NextServerFrame(tc.frame, tc.max); !errors.Is(err, tc.err) {
			t.Errorf("% x: %v, want %v", tc.frame[:2], err, tc.err)
		}
	}
}

func TestMessageTracker(t *testing.T) {
	first := []byte{0x01, 0x83, 1, 2, 3, 4, 'a', 'b', 'c'} // masked text, no FIN
	ping := []byte{0x89, 0x80, 1, 2, 3, 4}
	last := []byte{0x80, 0x81, 1, 2, 3, 4, 'd'} // continuation, FIN
	var tr MessageTracker
	tr.Track(first[:7])
	if tr.AtBoundary() || !tr.InMessage() {
		t.Fatal("mid first frame")
	}
	if n := tr.Upto(append(first[7:], ping...)); n != len(first)-7 || !tr.AtBoundary() {
		t.Fatalf("Upto took %d, want the rest of the frame %d", n, len(first)-7)
	}
	tr.Track(ping)
	if !tr.AtBoundary() || !tr.InMessage() {
		t.Fatal("a ping between fragments leaves the message open")
	}
	tr.Track(last)
	if !tr.AtBoundary() || tr.InMessage() {
		t.Fatal("the final fragment closes the message")
	}
}
