package codec

import (
	"bytes"
	"compress/flate"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// readFrame reads one frame back with gobwas (lengths here are our own).
func readFrame(r io.Reader) (ws.Frame, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return ws.Frame{}, err
	}
	f := ws.Frame{Header: h, Payload: make([]byte, h.Length)}
	_, err = io.ReadFull(r, f.Payload)
	return f, err
}

func TestAppendFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte{'z'}, n)
		out := AppendFrame([]byte("pre"), ws.OpBinary, payload)
		if string(out[:3]) != "pre" {
			t.Fatalf("len %d: dst prefix lost", n)
		}
		f, err := readFrame(bytes.NewReader(out[3:]))
		if err != nil {
			t.Fatalf("len %d: gobwas cannot read the frame: %v", n, err)
		}
		if !f.Header.Fin || f.Header.Masked || f.Header.Rsv != 0 || f.Header.OpCode != ws.OpBinary || !bytes.Equal(f.Payload, payload) {
			t.Fatalf("len %d: read back %+v", n, f.Header)
		}
		if want := ws.HeaderSize(f.Header) + n; len(out)-3 != want {
			t.Fatalf("len %d: frame is %d bytes, want %d", n, len(out)-3, want)
		}
	}
}

func TestAppendFrameDoesNotAllocate(t *testing.T) {
	payload := bytes.Repeat([]byte{'z'}, 64)
	dst := make([]byte, 0, 128)
	allocs := testing.AllocsPerRun(1000, func() {
		dst = AppendFrame(dst[:0], ws.OpText, payload)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per AppendFrame into a big enough dst, want 0", allocs)
	}
}

func TestAppendCloseFrame(t *testing.T) {
	tests := []struct {
		name       string
		code       ws.StatusCode
		reason     string
		wantBody   string
		wantReason string
	}{
		{
			name:     "code 0 gives an empty body",
			code:     0,
			reason:   "ignored",
			wantBody: "",
		},
		{
			name:       "code and reason",
			code:       1002,
			reason:     "protocol error",
			wantBody:   "\x03\xeaprotocol error",
			wantReason: "protocol error",
		},
		{
			name:       "long reason cut at a UTF-8 boundary",
			code:       1009,
			reason:     "x" + strings.Repeat("€", 60),
			wantReason: "x" + strings.Repeat("€", 40), // 121 bytes; one more € would be 124 > 123
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := AppendCloseFrame(nil, tc.code, tc.reason)
			f, err := readFrame(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if f.Header.OpCode != ws.OpClose || !f.Header.Fin || len(f.Payload) > 125 {
				t.Fatalf("bad close frame %+v", f.Header)
			}
			if tc.wantBody != "" && string(f.Payload) != tc.wantBody {
				t.Fatalf("body %q, want %q", f.Payload, tc.wantBody)
			}
			if tc.code == 0 {
				if len(f.Payload) != 0 {
					t.Fatalf("body %q, want empty", f.Payload)
				}
				return
			}
			code, reason := ws.ParseCloseFrameData(f.Payload)
			if code != tc.code || reason != tc.wantReason || !utf8.ValidString(reason) {
				t.Fatalf("got %d %q, want %d %q", code, reason, tc.code, tc.wantReason)
			}
		})
	}
}

func TestCompressorAppendFrame(t *testing.T) {
	for _, payload := range []string{"", "a", strings.Repeat("hello world ", 1000), "\x00\xff binary"} {
		op := ws.OpText
		if !utf8.ValidString(payload) {
			op = ws.OpBinary
		}
		out, err := NewCompressor().AppendFrame([]byte("pre"), op, []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		out = out[3:]
		r := bytes.NewReader(out)
		h, err := ws.ReadHeader(r)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Fin || h.Masked || h.OpCode != op || int(h.Length) != r.Len() {
			t.Fatalf("bad header %+v", h)
		}
		if compressed, err := wsflate.IsCompressed(h); err != nil || !compressed {
			t.Fatalf("RSV1 not set: %+v (%v)", h, err)
		}
		// Read back with wsflate's own reader, as a client would.
		fr := wsflate.NewReader(r, func(r io.Reader) wsflate.Decompressor { return flate.NewReader(r) })
		got, err := io.ReadAll(fr)
		if err != nil || string(got) != payload {
			t.Fatalf("wsflate reads %q (%v), want %q", got, err, payload)
		}

		// And with our own Parser, masked as a client would send it.
		p := &Parser{MaxMessage: 1 << 20}
		var d Decoder
		d.SetDeflate(true)
		h.Masked, h.Mask = true, testMask
		var b bytes.Buffer
		if err := ws.WriteHeader(&b, h); err != nil {
			t.Fatal(err)
		}
		body := bytes.Clone(out[len(out)-int(h.Length):])
		ws.Cipher(body, testMask, 0)
		b.Write(body)
		_, e, err := p.Next(&d, b.Bytes())
		if err != nil || string(e.Payload) != payload {
			t.Fatalf("Parser reads %q (%v), want %q", e.Payload, err, payload)
		}
	}
	if _, err := NewCompressor().AppendFrame(nil, ws.OpPing, nil); err == nil {
		t.Fatal("compressing a ping: want an error")
	}
}
