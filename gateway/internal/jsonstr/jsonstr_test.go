package jsonstr

import (
	"encoding/json"
	"testing"
)

// Whatever Append writes, encoding/json reads back as the same string (invalid
// UTF-8 as U+FFFD, as encoding/json itself does), with no raw control byte,
// U+2028 or U+2029 left in the output.
func TestAppendRoundTrips(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "line\nfeed\r\t", "\x00\x1f\x7f", "é\u2028\u2029x", "bad\xffutf8", "<script>"} {
		out := Append(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q: %s is not JSON: %v", s, out, err)
		}
		want := string([]rune(s)) // invalid bytes become U+FFFD
		if got != want {
			t.Errorf("%q: read back %q, want %q", s, got, want)
		}
		for _, b := range out {
			if b < 0x20 || b == 0x7f {
				t.Errorf("%q: raw control byte %#x in %s", s, b, out)
			}
		}
	}
}

func TestAppendAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { _ = Append(buf[:0], "a \"b\"\n\u2028") }); n != 0 {
		t.Errorf("%v allocations per Append", n)
	}
}
