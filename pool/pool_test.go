package pool

import "testing"

func TestSharedReturnsBufferOnLastRelease(t *testing.T) {
	var p Pool
	b := p.Get()
	b.WriteString("frame")
	s := NewShared(&p, b, 2)
	s.Release()
	if s.B == nil {
		t.Fatal("buffer returned while a reference remained")
	}
	s.Release()
	if s.B != nil {
		t.Fatal("buffer not returned after the last release")
	}
	if got := p.Get(); got.Len() != 0 {
		t.Fatalf("pooled buffer not reset: %q", got.B)
	}
}
