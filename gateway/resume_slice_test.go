//go:build linux

package gateway

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/codec"
)

// serverFrames splits what a fakeConn was written into frame payloads.
func serverFrames(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for len(b) > 0 {
		if len(b) < 2 {
			t.Fatalf("truncated frame header %q", b)
		}
		n, h := uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			n, h = uint64(binary.BigEndian.Uint16(b[2:4])), 4
		case 127:
			n, h = binary.BigEndian.Uint64(b[2:10]), 10
		}
		out = append(out, string(b[h:h+int(n)]))
		b = b[h+int(n):]
	}
	return out
}

// A storm of recoveries on one loop (resume_slice.go): once a recovery slice has been written, the
// live messages waiting in the loop's inbox go out before the next recovery, not after the whole
// epoll batch; a subscriber that got one live before its subscribe's reply does not get it again,
// and a small recovery leaves the inbox to its task (live messages stay batched).
func TestLiveBeforeTheNextRecovery(t *testing.T) {
	g := newTestGateway()
	g.cfg.MaxOutbound = 16 << 20
	g.cfg.HistorySize = 2000
	g.cfg.HistoryMaxBytes = 64 << 20
	g.resume = newResume(&g.cfg, codec.UpgradeOptions{}, prometheus.NewRegistry())
	const epoch = "e1"
	payload := strings.Repeat("x", 150)
	for o := int64(1); o <= 1000; o++ {
		g.resume.hist.Append("chat", epoch, o, byte(ws.OpText), []byte(payload))
	}
	el := newFakeLoop(t, g)
	sub := func(topic string) (*fakeConn, *conn, *v1Sub) {
		fc, cs := el.open(t)
		cs.state, cs.v1 = stateOpen, true
		vc := &v1Conn{urlTopic: topic}
		cs.loop.v1State().conns[cs] = vc
		return fc, cs, cs.loop.v1Join(cs, vc, topic)
	}
	fa, a, sa := sub("chat")
	fc, c, sc := sub("chat")
	l := a.loop
	// As v1Subscribe and v1Open do for a subscribe with since: liveFirst, then (join and) recover.
	resume := func(cs *conn, s *v1Sub, id, since int64) {
		if l.liveFirst(); cs.state == stateOpen {
			l.recover(cs, s, id, since, epoch)
		}
	}
	// a resumes 500 behind (~100 KB of frames: over the slice); then the next message arrives
	// (deliver: history first, then the inbox, whose task would run after the batch).
	resume(a, sa, 1, 500)
	g.resume.hist.Append("chat", epoch, 1001, byte(ws.OpText), []byte("live"))
	m := &message{topic: "chat", op: ws.OpText, pool: &g.frames, offset: 1001, epoch: epoch}
	m.frame = g.frames.Get()
	m.frame.B = codec.AppendFrame(m.frame.B, ws.OpText, []byte("live"))
	m.hdrLen = len(m.frame.B) - len("live")
	m.refs.Store(1)
	l.inbox.Lock()
	l.inbox.msgs, l.inbox.scheduled = append(l.inbox.msgs, m), true
	l.inbox.Unlock()
	// c resumes in the same batch: the live message goes out first, to both.
	resume(c, sc, 2, 900)
	l.inbox.Lock()
	left := len(l.inbox.msgs)
	l.inbox.Unlock()
	if left != 0 {
		t.Fatalf("%d live messages still wait in the inbox after the second recovery", left)
	}
	count := func(frames []string, what string) int {
		n := 0
		for _, f := range frames {
			if strings.Contains(f, what) {
				n++
			}
		}
		return n
	}
	af, cf := serverFrames(t, fa.out), serverFrames(t, fc.out)
	if len(af) != 502 || !strings.Contains(af[0], `"recovered":true`) || count(af, `"data":"live"`) != 1 || !strings.Contains(af[501], `"data":"live"`) {
		t.Fatalf("a: %d frames (want reply, 500 recovered, the live one once): first %.80q last %.80q", len(af), af[0], af[len(af)-1])
	}
	// c had 1001 live before its reply: the reply says 100 follow (901..1000), and 1001 is not repeated.
	if len(cf) != 102 || !strings.Contains(cf[0], `"offset":1001,`) || !strings.Contains(cf[1], `"messages":100`) || count(cf, `"data":"live"`) != 1 {
		t.Fatalf("c: %d frames (want the live one, the reply with messages:100, 100 recovered): %.80q, %.120q", len(cf), cf[0], cf[1])
	}
	for k, f := range cf[2:] {
		if !strings.Contains(f, `"offset":`+strconv.Itoa(901+k)+",") {
			t.Fatalf("c: recovered frame %d is %.80q, want offset %d", k, f, 901+k)
		}
	}
	// A small recovery (one message) stays under the slice: the inbox waits for its task.
	l.v1.recoveredBytes = 0
	fd, d, sd := sub("chat")
	m2 := &message{topic: "chat", op: ws.OpText, pool: &g.frames, offset: 1002, epoch: epoch}
	m2.frame = g.frames.Get()
	m2.frame.B = codec.AppendFrame(m2.frame.B, ws.OpText, []byte("next"))
	m2.hdrLen = len(m2.frame.B) - len("next")
	m2.refs.Store(1)
	resume(d, sd, 3, 1000)
	g.resume.hist.Append("chat", epoch, 1002, byte(ws.OpText), []byte("next"))
	l.inbox.Lock()
	l.inbox.msgs = append(l.inbox.msgs, m2)
	l.inbox.Unlock()
	resume(d, sd, 4, 1001)
	l.inbox.Lock()
	left = len(l.inbox.msgs)
	l.inbox.Unlock()
	if left != 1 || bytes.Contains(fa.out, []byte(`"data":"next"`)) {
		t.Fatalf("after recoveries under the slice: %d in the inbox (want 1, left to its task)", left)
	}
	// A socket joining the topic with its subscribe: the waiting live message goes out before it
	// joins, so its reply comes first and the recovery holds that message (v1Subscribe's order).
	l.v1.recoveredBytes = recoverySlice
	g.resume.hist.Append("chat", epoch, 1003, byte(ws.OpText), []byte("third"))
	m3 := &message{topic: "chat", op: ws.OpText, pool: &g.frames, offset: 1003, epoch: epoch}
	m3.frame = g.frames.Get()
	m3.frame.B = codec.AppendFrame(m3.frame.B, ws.OpText, []byte("third"))
	m3.hdrLen = len(m3.frame.B) - len("third")
	m3.refs.Store(1)
	l.inbox.Lock()
	l.inbox.msgs = append(l.inbox.msgs, m3)
	l.inbox.Unlock()
	fe, e := el.open(t)
	e.state, e.v1 = stateOpen, true
	ve := &v1Conn{urlTopic: "other"}
	l.v1.conns[e] = ve
	l.liveFirst()
	se := l.v1Join(e, ve, "chat")
	l.recover(e, se, 5, 1001, epoch)
	if ef := serverFrames(t, fe.out); len(ef) != 3 || !strings.Contains(ef[0], `"id":5`) || !strings.Contains(ef[2], `"data":"third"`) {
		t.Fatalf("e: %d frames, want its reply first, then 1002 and 1003: %q", len(ef), ef)
	}
	if df := serverFrames(t, fd.out); len(df) != 5 || !strings.Contains(df[1], `"data":"live"`) || !strings.Contains(df[3], `"data":"next"`) || !strings.Contains(df[4], `"data":"third"`) {
		t.Fatalf("d: %d frames, want reply, 1001, reply, 1002 (each recovered from the history), then 1003 live: %q", len(df), df)
	}
}
