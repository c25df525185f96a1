package codec

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/pool"
)

// benchNext decodes one 64-byte masked frame per iteration: the frame is
// copied back first since Next unmasks in place.
func benchNext(b *testing.B, tmpl []byte, deflate bool) {
	buf := make([]byte, len(tmpl))
	p := &Parser{Pool: new(pool.Pool), MaxMessage: 4 << 20}
	var d Decoder
	d.SetDeflate(deflate)
	b.ReportAllocs()
	b.SetBytes(64)
	for b.Loop() {
		copy(buf, tmpl)
		n, _, err := p.Next(&d, buf)
		if err != nil || n != len(buf) {
			b.Fatal(n, err)
		}
	}
}

// Header decode + checks + unmask + UTF-8 check: the steady-state path.
func BenchmarkParserNextText64(b *testing.B) {
	benchNext(b, text(strings.Repeat("a", 64)), false)
}

func BenchmarkParserNextBinary64(b *testing.B) {
	benchNext(b, binary(64), false)
}

func BenchmarkParserNextText64Deflate(b *testing.B) {
	benchNext(b, text(strings.Repeat("a", 64)), true)
}

func BenchmarkParserNextCompressed1K(b *testing.B) {
	msg := []byte(strings.Repeat(`{"user":"alice","text":"hello"} `, 32))
	tmpl := cf(true, rsv1, ws.OpText, deflate(b, msg))
	buf := make([]byte, len(tmpl))
	p := &Parser{Pool: new(pool.Pool), MaxMessage: 4 << 20}
	var d Decoder
	d.SetDeflate(true)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		copy(buf, tmpl)
		if _, _, err := p.Next(&d, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUTF8Valid(b *testing.B) {
	for _, tc := range []struct {
		name string
		s    []byte
	}{
		{"ascii64", []byte(strings.Repeat("a", 64))},
		{"ascii4K", []byte(strings.Repeat("a", 4096))},
		{"mixed4K", []byte(strings.Repeat("aé€😀", 410))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.s)))
			for b.Loop() {
				if !utf8.Valid(tc.s) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// The gateway's handshake: one parse, then the upgrade decision on it.
func BenchmarkHandshake(b *testing.B) {
	head := []byte(chromeHead)
	opts := &UpgradeOptions{Subprotocols: []string{"chat"}, Compression: true, Origins: []string{"http://localhost:8080"}}
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		req, _, err := ParseRequestHead(head, 16384)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := AcceptRequest(dst[:0], req, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRequestHead(b *testing.B) {
	head := []byte(chromeHead)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseRequestHead(head, 16384); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendFrame64(b *testing.B) {
	payload := []byte(strings.Repeat("a", 64))
	dst := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendFrame(dst[:0], ws.OpText, payload)
	}
}

func BenchmarkAppendCompressedFrame1K(b *testing.B) {
	payload := []byte(strings.Repeat(`{"user":"alice","text":"hello"} `, 32))
	dst := make([]byte, 0, 2048)
	c := NewCompressor()
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		var err error
		if dst, err = c.AppendFrame(dst[:0], ws.OpText, payload); err != nil {
			b.Fatal(err)
		}
	}
}
