package wstest

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"
)

// RFC 6455 section 1.3's worked example.
func TestAcceptKeyRFCExample(t *testing.T) {
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey = %q", got)
	}
}

// Encode's length forms and masking, read back by ReadFrame (which unmasks what it reads) over a pipe.
func TestEncodeReadFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		wire := Encode(Frame{Fin: true, RSV: 4, Op: OpBinary, Payload: payload})
		if wire[0] != 0x80|0x40|OpBinary || wire[1]&0x80 == 0 {
			t.Fatalf("len %d: header % x, want FIN|RSV1|binary and the mask bit", n, wire[:2])
		}
		if n > 0 && bytes.Contains(wire, payload) {
			t.Fatalf("len %d: payload went out unmasked", n)
		}
		f := readBack(t, wire)
		if !f.Fin || f.RSV != 4 || f.Op != OpBinary || !f.Masked || !bytes.Equal(f.Payload, payload) {
			t.Fatalf("len %d: read fin=%v rsv=%d op=%d masked=%v len=%d", n, f.Fin, f.RSV, f.Op, f.Masked, len(f.Payload))
		}
	}
	if w := Encode(Frame{Op: OpText, Payload: []byte("hi"), Unmasked: true}); !bytes.Equal(w, []byte{0x01, 0x02, 'h', 'i'}) {
		t.Fatalf("unmasked non-final text: % x", w)
	}
	if w := Encode(Frame{Fin: true, Op: OpBinary, Payload: []byte("ab"), Unmasked: true, DeclaredLen: 1000}); !bytes.Equal(w[:4], []byte{0x82, 126, 0x03, 0xe8}) || len(w) != 6 {
		t.Fatalf("declared length 1000: % x", w)
	}
	f := readBack(t, Encode(Frame{Fin: true, Op: OpClose, Payload: CloseBody(4000, "app")}))
	if f.CloseCode() != 4000 || f.CloseReason() != "app" {
		t.Fatalf("close body: code %d reason %q", f.CloseCode(), f.CloseReason())
	}
}

func readBack(t *testing.T, wire []byte) Received {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = a.Write(wire) }()
	c := &Conn{Conn: b, R: bufio.NewReader(b)}
	f, err := c.ReadFrame(time.Now().Add(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return f
}
