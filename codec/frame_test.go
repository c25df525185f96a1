package codec

import (
	"bytes"
	be "encoding/binary"
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/wsgate/wsgate/pool"
)

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

const rsv1 = 0x4 // ws.Rsv(true, false, false)

// cf encodes a masked client frame with gobwas.
func cf(fin bool, rsv byte, op ws.OpCode, payload []byte) []byte {
	var b bytes.Buffer
	h := ws.Header{Fin: fin, Rsv: rsv, OpCode: op, Masked: true, Mask: testMask, Length: int64(len(payload))}
	if err := ws.WriteHeader(&b, h); err != nil {
		panic(err)
	}
	p := bytes.Clone(payload)
	ws.Cipher(p, testMask, 0)
	b.Write(p)
	return b.Bytes()
}

func text(s string) []byte { return cf(true, 0, ws.OpText, []byte(s)) }
func binary(n int) []byte  { return cf(true, 0, ws.OpBinary, bytes.Repeat([]byte{0xa5}, n)) }
func ping(s string) []byte { return cf(true, 0, ws.OpPing, []byte(s)) }
func pong(s string) []byte { return cf(true, 0, ws.OpPong, []byte(s)) }
func closeBody(code uint16, reason string) []byte {
	b := binary2(code)
	return cf(true, 0, ws.OpClose, append(b, reason...))
}
func binary2(code uint16) []byte { return be.BigEndian.AppendUint16(nil, code) }

// deflate compresses like a client with wsflate (no context takeover).
func deflate(t testing.TB, p []byte) []byte {
	t.Helper()
	out, err := wsflate.DefaultHelper.Compress(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// ev is a comparable copy of an Event.
type ev struct {
	Kind    EventKind
	Op      ws.OpCode
	Payload string
	Code    ws.StatusCode
	Reason  string
}

// copyEvent keeps what the tables compare; a fragment's own bytes
// (KindNone's Payload) are checked by TestParserFragmentPayload.
func copyEvent(e Event) ev {
	if e.Kind == KindNone {
		e.Payload = nil
	}
	return ev{Kind: e.Kind, Op: e.OpCode, Payload: string(e.Payload), Code: e.Code, Reason: e.Reason}
}

func closeCode(err error) ws.StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// decodeAll feeds the whole stream; it stops at the first error or when the
// rest is incomplete.
func decodeAll(t testing.TB, p *Parser, deflate bool, stream []byte) ([]ev, error) {
	var d Decoder
	d.SetDeflate(deflate)
	defer p.Release(&d)
	var evs []ev
	for len(stream) > 0 {
		n, e, err := p.Next(&d, stream)
		if n < 0 || n > len(stream) {
			t.Fatalf("n = %d outside [0, %d]", n, len(stream))
		}
		if err != nil {
			if n != 0 {
				t.Fatalf("n = %d with error %v", n, err)
			}
			return evs, err
		}
		if n == 0 {
			return evs, nil
		}
		evs = append(evs, copyEvent(e))
		stream = stream[n:]
	}
	return evs, nil
}

// decodeByteAtATime offers buf[:1], buf[:2], ... of what is left and
// requires n == 0 until exactly one whole frame is there.
func decodeByteAtATime(t testing.TB, p *Parser, deflate bool, stream []byte) ([]ev, error) {
	var d Decoder
	d.SetDeflate(deflate)
	defer p.Release(&d)
	var evs []ev
	off := 0
	for k := off + 1; k <= len(stream); k++ {
		before := bytes.Clone(stream[off:k])
		n, e, err := p.Next(&d, stream[off:k])
		if err != nil {
			return evs, err
		}
		if n == 0 {
			if !bytes.Equal(before, stream[off:k]) {
				t.Fatalf("incomplete call changed the buffer")
			}
			continue
		}
		if n != k-off {
			t.Fatalf("frame completed with %d bytes offered but n = %d", k-off, n)
		}
		evs = append(evs, copyEvent(e))
		off = k
	}
	return evs, nil
}

func TestParserNext(t *testing.T) {
	big := strings.Repeat("x", 70000)
	longText := strings.Repeat("ü", 100) // 200 bytes: 16-bit length
	tests := []struct {
		name    string
		stream  []byte
		deflate bool
		max     int
		want    []ev
		code    ws.StatusCode // 0: no error
	}{
		{
			name:   "text",
			stream: text("hello"),
			want:   []ev{{Kind: KindMessage, Op: ws.OpText, Payload: "hello"}},
		},
		{
			name:   "empty binary",
			stream: binary(0),
			want:   []ev{{Kind: KindMessage, Op: ws.OpBinary}},
		},
		{
			name:   "16-bit and 64-bit lengths",
			stream: cat(text(longText), text(big)),
			want: []ev{
				{Kind: KindMessage, Op: ws.OpText, Payload: longText},
				{Kind: KindMessage, Op: ws.OpText, Payload: big},
			},
		},
		{
			name:   "message of exactly max",
			stream: binary(100),
			max:    100,
			want:   []ev{{Kind: KindMessage, Op: ws.OpBinary, Payload: strings.Repeat("\xa5", 100)}},
		},
		{
			name: "fragments with ping, pong and close between them",
			stream: cat(
				cf(false, 0, ws.OpText, []byte("Hel")),
				ping("p"),
				cf(false, 0, ws.OpContinuation, []byte("lo")),
				pong("q"),
				cf(false, 0, ws.OpContinuation, nil),
				closeBody(1000, "bye"),
				cf(true, 0, ws.OpContinuation, []byte(" world")),
			),
			want: []ev{
				{Kind: KindNone},
				{Kind: KindPing, Payload: "p"},
				{Kind: KindNone},
				{Kind: KindPong, Payload: "q"},
				{Kind: KindNone},
				{Kind: KindClose, Payload: "\x03\xe8bye", Code: 1000, Reason: "bye"},
				{Kind: KindMessage, Op: ws.OpText, Payload: "Hello world"},
			},
		},
		{
			name: "code point split across fragments",
			stream: cat(
				cf(false, 0, ws.OpText, []byte("\xe2")),
				cf(false, 0, ws.OpContinuation, []byte("\x82")),
				cf(true, 0, ws.OpContinuation, []byte("\xac!")),
			),
			want: []ev{{Kind: KindNone}, {Kind: KindNone}, {Kind: KindMessage, Op: ws.OpText, Payload: "€!"}},
		},
		{
			name:   "two messages after each other",
			stream: cat(cf(false, 0, ws.OpBinary, []byte{1}), cf(true, 0, ws.OpContinuation, []byte{2}), text("x")),
			want:   []ev{{Kind: KindNone}, {Kind: KindMessage, Op: ws.OpBinary, Payload: "\x01\x02"}, {Kind: KindMessage, Op: ws.OpText, Payload: "x"}},
		},
		{
			name:   "ping payload returned",
			stream: ping(strings.Repeat("p", 125)),
			want:   []ev{{Kind: KindPing, Payload: strings.Repeat("p", 125)}},
		},
		{
			name:   "close without body",
			stream: cf(true, 0, ws.OpClose, nil),
			want:   []ev{{Kind: KindClose}},
		},
		{
			name:   "close codes 1001, 3000, 4999",
			stream: cat(closeBody(1001, ""), closeBody(3000, "app"), closeBody(4999, "é")),
			want: []ev{
				{Kind: KindClose, Payload: "\x03\xe9", Code: 1001},
				{Kind: KindClose, Payload: "\x0b\xb8app", Code: 3000, Reason: "app"},
				{Kind: KindClose, Payload: "\x13\x87é", Code: 4999, Reason: "é"},
			},
		},
		{
			name:    "compressed text",
			stream:  cf(true, rsv1, ws.OpText, deflate(t, []byte(strings.Repeat("hello ", 50)))),
			deflate: true,
			want:    []ev{{Kind: KindMessage, Op: ws.OpText, Payload: strings.Repeat("hello ", 50)}},
		},
		{
			name:    "uncompressed message on a deflate connection",
			stream:  text("plain"),
			deflate: true,
			want:    []ev{{Kind: KindMessage, Op: ws.OpText, Payload: "plain"}},
		},
		{
			name:    "compressed empty message",
			stream:  cf(true, rsv1, ws.OpBinary, deflate(t, nil)),
			deflate: true,
			want:    []ev{{Kind: KindMessage, Op: ws.OpBinary}},
		},
		{
			name: "compressed fragmented message with a ping between",
			stream: func() []byte {
				c := deflate(t, []byte(big))
				return cat(cf(false, rsv1, ws.OpText, c[:10]), ping("x"), cf(true, 0, ws.OpContinuation, c[10:]))
			}(),
			deflate: true,
			want:    []ev{{Kind: KindNone}, {Kind: KindPing, Payload: "x"}, {Kind: KindMessage, Op: ws.OpText, Payload: big}},
		},
		{
			name:   "unmasked frame",
			stream: []byte("\x81\x05hello"),
			code:   1002,
		},
		{
			name:   "RSV1 without deflate",
			stream: cf(true, rsv1, ws.OpText, []byte("x")),
			code:   1002,
		},
		{
			name:   "RSV3 without deflate",
			stream: cf(true, 0x1, ws.OpBinary, []byte("x")),
			code:   1002,
		},
		{
			name:    "RSV2 with deflate",
			stream:  cf(true, 0x2, ws.OpText, []byte("x")),
			deflate: true,
			code:    1002,
		},
		{
			name:    "RSV1 on a continuation",
			stream:  cat(cf(false, rsv1, ws.OpText, deflate(t, []byte("ab"))), cf(true, rsv1, ws.OpContinuation, nil)),
			deflate: true,
			want:    []ev{{Kind: KindNone}},
			code:    1002,
		},
		{
			name:    "RSV1 on a ping",
			stream:  cf(true, rsv1, ws.OpPing, nil),
			deflate: true,
			code:    1002,
		},
		{
			name:   "ping of 126 bytes",
			stream: ping(strings.Repeat("p", 126)),
			code:   1002,
		},
		{
			name:   "fragmented ping",
			stream: cf(false, 0, ws.OpPing, []byte("p")),
			code:   1002,
		},
		{
			name:   "reserved data opcode",
			stream: cf(true, 0, 0x3, []byte("x")),
			code:   1002,
		},
		{
			name:   "reserved control opcode",
			stream: cf(true, 0, 0xb, nil),
			code:   1002,
		},
		{
			name:   "continuation without start",
			stream: cf(true, 0, ws.OpContinuation, []byte("x")),
			code:   1002,
		},
		{
			name:   "new message while fragmented",
			stream: cat(cf(false, 0, ws.OpText, []byte("a")), text("b")),
			want:   []ev{{Kind: KindNone}},
			code:   1002,
		},
		{
			name:   "64-bit length with the top bit set",
			stream: append([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, testMask[:]...),
			code:   1002,
		},
		{
			name:   "invalid UTF-8",
			stream: text("a\xffb"),
			code:   1007,
		},
		{
			name:   "invalid UTF-8 across fragments",
			stream: cat(cf(false, 0, ws.OpText, []byte("\xe2")), cf(true, 0, ws.OpContinuation, []byte("A"))),
			want:   []ev{{Kind: KindNone}},
			code:   1007,
		},
		{
			name:   "text ending in a partial code point",
			stream: cat(cf(false, 0, ws.OpText, []byte("ok")), cf(true, 0, ws.OpContinuation, []byte("\xe2\x82"))),
			want:   []ev{{Kind: KindNone}},
			code:   1007,
		},
		{
			name:   "binary is not UTF-8 checked",
			stream: cf(true, 0, ws.OpBinary, []byte("\xff")),
			want:   []ev{{Kind: KindMessage, Op: ws.OpBinary, Payload: "\xff"}},
		},
		{
			name:   "message over max",
			stream: binary(101),
			max:    100,
			code:   1009,
		},
		{
			name:   "fragments over max",
			stream: cat(cf(false, 0, ws.OpBinary, make([]byte, 60)), cf(true, 0, ws.OpContinuation, make([]byte, 41))),
			max:    100,
			want:   []ev{{Kind: KindNone}},
			code:   1009,
		},
		{
			name:   "close body of one byte",
			stream: cf(true, 0, ws.OpClose, []byte{3}),
			code:   1002,
		},
		{
			name:   "close code 1005",
			stream: closeBody(1005, ""),
			code:   1002,
		},
		{
			name:   "close code 1006",
			stream: closeBody(1006, ""),
			code:   1002,
		},
		{
			name:   "close code 999",
			stream: closeBody(999, ""),
			code:   1002,
		},
		{
			name:   "close code 0",
			stream: closeBody(0, ""),
			code:   1002,
		},
		{
			name:   "close code 1004",
			stream: closeBody(1004, ""),
			code:   1002,
		},
		{
			name:   "close code 1016",
			stream: closeBody(1016, ""),
			code:   1002,
		},
		{
			name:   "close code 2999",
			stream: closeBody(2999, ""),
			code:   1002,
		},
		{
			name:   "close code 5000",
			stream: closeBody(5000, ""),
			code:   1002,
		},
		{
			name:   "close code 65535",
			stream: closeBody(65535, ""),
			code:   1002,
		},
		{
			name:   "close reason not UTF-8",
			stream: closeBody(1000, "\xc3\x28"),
			code:   1007,
		},
		{
			name:    "deflate bomb",
			stream:  cf(true, rsv1, ws.OpBinary, deflate(t, make([]byte, 10<<20))),
			deflate: true,
			max:     1 << 20,
			code:    1009,
		},
		{
			name:    "corrupt deflate data",
			stream:  cf(true, rsv1, ws.OpBinary, []byte{0xff, 0xff, 0xff, 0xff}),
			deflate: true,
			code:    1007,
		},
		{
			name:    "compressed text not UTF-8",
			stream:  cf(true, rsv1, ws.OpText, deflate(t, []byte("a\xff"))),
			deflate: true,
			code:    1007,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Parser{Pool: new(pool.Pool), MaxMessage: tc.max}
			check := func(how string, got []ev, err error) {
				t.Helper()
				if code := closeCode(err); code != tc.code || (err != nil && code == 0) {
					t.Fatalf("%s: err = %v, want close code %d", how, err, tc.code)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("%s: %d events %+v, want %d %+v", how, len(got), got, len(tc.want), tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("%s: event %d = %+v, want %+v", how, i, got[i], tc.want[i])
					}
				}
			}
			got, err := decodeAll(t, p, tc.deflate, bytes.Clone(tc.stream))
			check("whole stream", got, err)
			got, err = decodeByteAtATime(t, p, tc.deflate, bytes.Clone(tc.stream))
			check("byte at a time", got, err)
		})
	}
}

// The limit is enforced from the header alone: no payload byte has arrived.
func TestParserNextTooBigFromHeader(t *testing.T) {
	p := &Parser{MaxMessage: 1 << 20}
	var d Decoder
	frame := cf(true, 0, ws.OpBinary, make([]byte, 1<<20+1))
	hlen := 2 + 8 + 4
	_, _, err := p.Next(&d, frame[:hlen])
	if closeCode(err) != 1009 {
		t.Fatalf("err = %v, want 1009 from the header", err)
	}
	// Without any limit, a declared length near 2^63 must not overflow.
	p = &Parser{}
	huge := append([]byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, testMask[:]...)
	n, _, err := p.Next(&d, huge)
	if n != 0 || closeCode(err) != 1009 {
		t.Fatalf("got (%d, %v), want 1009", n, err)
	}
}

func TestParserNextUnmasksInPlace(t *testing.T) {
	payload := []byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	for off := 0; off < 8; off++ { // every alignment of the payload
		buf := append(make([]byte, off), cf(true, 0, ws.OpBinary, payload)...)[off:]
		var d Decoder
		p := &Parser{}
		n, e, err := p.Next(&d, buf)
		if err != nil || n != len(buf) || !bytes.Equal(e.Payload, payload) {
			t.Fatalf("offset %d: got (%d, %q, %v)", off, n, e.Payload, err)
		}
		if &e.Payload[0] != &buf[n-len(payload)] {
			t.Fatalf("payload does not alias buf")
		}
	}
}

// A reassembled message's buffer is kept until the next Next (or Release),
// and nothing is held between messages.
func TestDecoderHoldsNoBufferBetweenMessages(t *testing.T) {
	p := &Parser{}
	var d Decoder
	stream := cat(cf(false, 0, ws.OpBinary, []byte("ab")), cf(true, 0, ws.OpContinuation, []byte("cd")), binary(3))
	n, _, _ := p.Next(&d, stream)
	if d.buf == nil {
		t.Fatal("fragment not kept")
	}
	stream = stream[n:]
	n, e, err := p.Next(&d, stream)
	if err != nil || string(e.Payload) != "abcd" || d.buf == nil {
		t.Fatalf("got %q, %v", e.Payload, err)
	}
	stream = stream[n:]
	if _, _, err := p.Next(&d, stream); err != nil || d.buf != nil {
		t.Fatalf("buffer still held after the next message (err %v)", err)
	}
	p.Release(&d)
	if d != (Decoder{}) {
		t.Fatalf("Release left state: %+v", d)
	}
}

func TestDecoderIsSmall(t *testing.T) {
	size := unsafe.Sizeof(Decoder{})
	t.Logf("unsafe.Sizeof(Decoder{}) = %d bytes", size)
	if size > 16 {
		t.Fatalf("Decoder is %d bytes, want at most 16", size)
	}
}

func TestParserNextSingleFrameDoesNotAllocate(t *testing.T) {
	tmpl := text(strings.Repeat("a", 64))
	buf := make([]byte, len(tmpl))
	p := &Parser{Pool: new(pool.Pool), MaxMessage: 1 << 20}
	var d Decoder
	allocs := testing.AllocsPerRun(1000, func() {
		copy(buf, tmpl)
		if _, _, err := p.Next(&d, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per Next, want 0", allocs)
	}
	d.SetDeflate(true)
	allocs = testing.AllocsPerRun(1000, func() {
		copy(buf, tmpl)
		if _, _, err := p.Next(&d, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per Next with deflate negotiated, want 0", allocs)
	}
}
