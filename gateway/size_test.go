package gateway

import (
	"testing"
	"unsafe"
)

// TestConnSize guards the memory per connection: every client connection has
// a conn, and a proxied tunnel two. 160 bytes is a Go size class (the next is
// 176); a field that does not fit belongs behind a pointer that is nil when
// its feature is off (as alog, user and pong are).
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 160 {
		t.Fatalf("conn is %d bytes, over the 160-byte size class", n)
	}
}
