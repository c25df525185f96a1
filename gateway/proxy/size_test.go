package proxy

import (
	"testing"
	"unsafe"
)

// TestSessionSize guards the memory of an idle tunnel: a Session lives as long
// as its tunnel, so every byte here is paid once per tunnel (9,000 tunnels in
// bench/compare.sh). 208 bytes is a Go size class; a field that does not fit
// belongs behind a pointer that is nil when its feature is off (as rec is
// when the access log is off).
func TestSessionSize(t *testing.T) {
	if n := unsafe.Sizeof(Session{}); n > 208 {
		t.Fatalf("proxy.Session is %d bytes, over the 208-byte size class", n)
	}
}
