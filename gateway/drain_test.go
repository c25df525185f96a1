//go:build linux

package gateway

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// Drain must reach every client connection, not only those waiting on the
// timing wheel (before the fix it walked the wheel's slots).
func TestDrainReachesConnectionsOffTheWheel(t *testing.T) {
	g := newTestGateway()
	el := newFakeLoop(t, g)
	hsOn, _ := el.open(t)
	hsOff, hsOffCS := el.open(t)
	wsOff, wsOffCS := el.open(t)
	l := hsOffCS.loop
	// Off the wheel, as a connection between two timers is.
	l.wheel.remove(hsOffCS)
	l.wheel.remove(wsOffCS)
	wsOffCS.state = stateOpen // as after an upgrade

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	g.Drain(ctx, tick)

	for name, c := range map[string]*fakeConn{"scheduled": hsOn, "unscheduled": hsOff} {
		if !c.closed {
			t.Errorf("%s connection in handshake not closed by the drain", name)
		}
	}
	// The WebSocket client got close 1001 and lingers for its answer.
	if wsOffCS.state != stateClosing {
		t.Errorf("unscheduled WebSocket connection in state %d, want closing", wsOffCS.state)
	}
	if len(wsOff.out) < 4 || ws.OpCode(wsOff.out[0]&0x0f) != ws.OpClose ||
		ws.StatusCode(binary.BigEndian.Uint16(wsOff.out[2:4])) != ws.StatusGoingAway {
		t.Errorf("unscheduled WebSocket connection got %q, want a close frame 1001", wsOff.out)
	}
	if got := g.open.Load(); got != 1 {
		t.Errorf("%d connections open after the drain, want the lingering one", got)
	}
}
