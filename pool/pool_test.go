package pool

import "testing"

func TestPutResetsBuffer(t *testing.T) {
	var p Pool
	b := p.Get()
	b.WriteString("frame")
	p.Put(b)
	p.Put(nil) // no-op
	if got := p.Get(); got.Len() != 0 {
		t.Fatalf("pooled buffer not reset: %q", got.B)
	}
}
