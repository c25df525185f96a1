package gateway

import (
	"testing"
	"unsafe"
)

// TestConnSize guards the memory per connection: every client connection has
// a conn, and a proxied tunnel two. 176 bytes is a Go size class (the next is
// 192): 160 before the auth=request and GRIP pointers, 176 with them. A field
// that does not fit belongs behind a pointer that is nil when its feature is
// off (as alog, user, pong are), or with them behind one such pointer.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 176 {
		t.Fatalf("conn is %d bytes, over the 176-byte size class", n)
	}
}
