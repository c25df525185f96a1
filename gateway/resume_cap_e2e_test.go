package gateway_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// v1Upgrade opens a raw wsgate.v1 socket on path.

func readV1Frame(t *testing.T, c *rawConn) (v1Frame, []byte) {
	t.Helper()
	f, err := c.ReadFrame(time.Now().Add(10 * time.Second))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m v1Frame
	if err := json.Unmarshal(f.Payload, &m); err != nil {
		t.Fatalf("frame %.200q: %v", f.Payload, err)
	}
	return m, f.Payload
}

// A resume whose recovered messages would not fit in -max-outbound answers recovered:false (never part
// of the gap) instead of queueing the whole history on a client that may never read it: many such
// upgrades once took the gateway's memory to gigabytes (one write of every recovered message, checked
// against -max-outbound only afterwards). A gap that fits is still recovered.
func TestV1ResumeOverMaxOutbound(t *testing.T) {
	g := startGateway(t, "-route", "/t/=topic:*", "-history-size", "64", "-max-outbound", "1048576",
		"-max-message-bytes", "65536")
	c := v1Upgrade(t, g.Addr, "/t/big")
	writeFrames(t, c, wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte(`{"id":1,"subscribe":{"topic":"big"}}`)})
	pos, raw := readV1Frame(t, c)
	if pos.Subscribe == nil || pos.Subscribe.Offset == nil || pos.Subscribe.Epoch == "" {
		t.Fatalf("position: %s", raw)
	}
	body := []byte(strings.Repeat("x", 60<<10))
	for i := range 64 {
		if code := publish(t, g, "big", "", "", body); code != 202 {
			t.Fatalf("publish %d: %d", i, code)
		}
	}
	since := func(back int64) string {
		return "/t/big?since=" + strconv.FormatInt(*pos.Subscribe.Offset+64-back, 10) + "&epoch=" + pos.Subscribe.Epoch
	}
	// 64 × 60 KiB = 3.75 MiB missed, over the 1 MiB bound: recovered:false, and nothing of the gap.
	for range 4 {
		c := v1Upgrade(t, g.Addr, since(64))
		rep, raw := readV1Frame(t, c)
		if rep.ID == nil || *rep.ID != 0 || rep.Subscribe == nil || rep.Subscribe.Recovered == nil || *rep.Subscribe.Recovered {
			t.Fatalf("resume over -max-outbound: first frame %.300s, want recovered:false", raw)
		}
		if !strings.Contains(string(raw), "max-outbound") {
			t.Errorf("reason: %.300s", raw)
		}
		if f, err := c.ReadFrame(time.Now().Add(200 * time.Millisecond)); !isTimeout(err) {
			t.Fatalf("after recovered:false: %d bytes (op %d), err %v; want nothing", len(f.Payload), f.Op, err)
		}
	}
	// 8 × 60 KiB fits: recovered, all of it.
	c2 := v1Upgrade(t, g.Addr, since(8))
	if rep, raw := readV1Frame(t, c2); rep.Subscribe == nil || rep.Subscribe.Recovered == nil || !*rep.Subscribe.Recovered {
		t.Fatalf("small resume: %.300s", raw)
	}
	for i := range 8 {
		if m, raw := readV1Frame(t, c2); m.Topic != "big" {
			t.Fatalf("recovered %d: %.100s", i, raw)
		}
	}
	if v := v1Metric(t, g, `wsgate_resume_total{result="not_recovered"}`); v != 4 {
		t.Errorf("not_recovered = %v, want 4", v)
	}
}
