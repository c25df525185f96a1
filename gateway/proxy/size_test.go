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

// TestTunnelHoldsNoRecordWhenLogOff: with the access log off, an open tunnel
// points at the loop's sink instead of holding a record; with it on, each
// session has its own. Either way the request head buffer is back in the pool.
func TestTunnelHoldsNoRecordWhenLogOff(t *testing.T) {
	for _, on := range []bool{false, true} {
		h := newHarness(t, "app=a@h:1")
		if on {
			logged(h)
		}
		h.send(upgradeReq)
		srv := h.connect()
		h.reply(srv, accepted)
		s := h.client.sess
		if s == nil || s.Phase() != PhaseTunnel {
			t.Fatalf("log %v: no tunnel (session %v)", on, s)
		}
		if own := s.rec != &h.lp.sink; own != on {
			t.Errorf("log %v: session has a record of its own: %v", on, own)
		}
		if s.head != nil {
			t.Errorf("log %v: tunnel still holds its request head", on)
		}
	}
}
