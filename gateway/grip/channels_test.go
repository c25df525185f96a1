package grip

import (
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeSession records what delivery hands an attached session.
type fakeSession struct{ got []string } // frame, "+close" after a close

func (s *fakeSession) GripPublish(frame []byte, isClose bool) {
	f := string(frame)
	if isClose {
		f += "+close"
	}
	s.got = append(s.got, f)
}

// fakeClient is a client connection as the gateway would hold it: attached
// (sess set), held (detached), or gone (neither).
type fakeClient struct {
	ch      *testChannels
	gc      *Conn[*fakeClient]
	held    bool
	sess    *fakeSession
	out     int // unsent bytes
	written []string
	slow    bool
	closed  string // "code reason" of Close
}

func (c *fakeClient) Held() bool { return c.held }
func (c *fakeClient) Session() Session {
	if c.sess == nil {
		return nil
	}
	return c.sess
}
func (c *fakeClient) OutboundBuffered() int { return c.out }
func (c *fakeClient) Write(frame []byte)    { c.written = append(c.written, string(frame)) }
func (c *fakeClient) RemoteAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9} }

// SlowConsumer and Close do what the gateway does: the client closes and
// leaves its channels at once (linger → Release), during delivery.
func (c *fakeClient) SlowConsumer() { c.slow = true; c.leave() }
func (c *fakeClient) Close(code ws.StatusCode, reason string) {
	c.closed = strconv.Itoa(int(code)) + " " + reason
	c.leave()
}

func (c *fakeClient) leave() {
	c.held, c.sess = false, nil
	if c.gc != nil {
		c.ch.Release(c.gc)
		c.gc = nil
	}
}

type msg string

func (m msg) Frame() []byte { return []byte(m) }

type testChannels = Channels[*fakeClient, msg]

func newTest(t *testing.T, maxTopics, maxOut int) (*testChannels, *Metrics) {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	return NewChannels[*fakeClient, msg](m, slog.New(slog.NewTextHandler(io.Discard, nil)), maxTopics, maxOut), m
}

// attach makes an attached client on channels.
func attach(ch *testChannels, channels ...string) *fakeClient {
	c := &fakeClient{ch: ch, sess: &fakeSession{}}
	c.gc = ch.Attach()
	for _, name := range channels {
		ch.Subscribe(c.gc, c, name)
	}
	return c
}

func names(gc *Conn[*fakeClient]) []string {
	var s []string
	for _, sub := range gc.subs {
		s = append(s, sub.grp.Name())
	}
	return s
}

func value(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

func TestSubscribeRules(t *testing.T) {
	cases := []struct {
		name     string
		max      int
		channels []string
		want     []string
		badName  float64
		limit    float64
	}{
		{"one", 0, []string{"news"}, []string{"news"}, 0, 0},
		{"percent-decoded", 0, []string{"%C3%A9t%C3%A9"}, []string{"été"}, 0, 0},
		{"twice is once", 0, []string{"a", "a"}, []string{"a"}, 0, 0},
		{"encodings of one name are one channel", 0, []string{"a b", "a%20b"}, []string{"a b"}, 0, 0},
		{"slash", 0, []string{"a/b", "a%2Fb"}, nil, 2, 0},
		{"empty", 0, []string{""}, nil, 1, 0},
		{"bad escape", 0, []string{"a%zz"}, nil, 1, 0},
		{"not UTF-8", 0, []string{"%ff"}, nil, 1, 0},
		{"too long", 0, []string{strings.Repeat("x", 257)}, nil, 1, 0},
		{"limit", 2, []string{"a", "b", "c", "d"}, []string{"a", "b"}, 0, 2},
		{"resubscribe at the limit is no refusal", 2, []string{"a", "b", "a"}, []string{"a", "b"}, 0, 0},
		{"limit 0 is the default", 0, many(DefaultMaxTopicsPerConn + 1), many(DefaultMaxTopicsPerConn), 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch, m := newTest(t, tc.max, 1<<20)
			c := attach(ch, tc.channels...)
			if got := names(c.gc); !slices.Equal(got, tc.want) {
				t.Errorf("channels %q, want %q", got, tc.want)
			}
			if got := value(t, m.refused.WithLabelValues("name")); got != tc.badName {
				t.Errorf("ignored for the name: %v, want %v", got, tc.badName)
			}
			if got := value(t, m.refused.WithLabelValues("limit")); got != tc.limit {
				t.Errorf("ignored for the limit: %v, want %v", got, tc.limit)
			}
			if got := value(t, m.subscriptions); got != float64(len(tc.want)) {
				t.Errorf("subscriptions gauge %v, want %d", got, len(tc.want))
			}
		})
	}
}

func many(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = "t" + strings.Repeat("x", i)
	}
	return s
}

func TestUnsubscribe(t *testing.T) {
	ch, m := newTest(t, 0, 1<<20)
	c := attach(ch, "a", "b b", "c")
	ch.Unsubscribe(c.gc, "b%20b")
	ch.Unsubscribe(c.gc, "never")
	ch.Unsubscribe(c.gc, "a/b") // a bad name is no channel: nothing to do
	if got := names(c.gc); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("channels %q after unsubscribing b b", got)
	}
	if got := value(t, m.subscriptions); got != 2 {
		t.Fatalf("subscriptions gauge %v, want 2", got)
	}
	if d, _ := ch.Deliver("b b", []msg{"x"}); d != 0 || len(c.sess.got) != 0 {
		t.Fatalf("delivered %d to a channel the client left", d)
	}
	ch.Subscribe(c.gc, c, "b b") // the place it left is free again
	if got := names(c.gc); !slices.Equal(got, []string{"a", "c", "b b"}) {
		t.Fatalf("channels %q after subscribing again", got)
	}
}

func TestSessionStates(t *testing.T) {
	ch, m := newTest(t, 0, 1<<20)
	state := func(want ...float64) {
		t.Helper()
		got := []float64{value(t, m.sessions.WithLabelValues("attached")), value(t, m.sessions.WithLabelValues("detached")), value(t, m.subscriptions)}
		if !slices.Equal(got, want) {
			t.Fatalf("attached, detached, subscriptions = %v, want %v", got, want)
		}
	}
	state(0, 0, 0)
	a, b := attach(ch, "x", "y"), attach(ch, "x")
	state(2, 0, 3)
	ch.Detach(b.gc)
	b.held, b.sess = true, nil
	if !b.gc.detached {
		t.Fatal("Detach did not mark the client detached")
	}
	state(1, 1, 3)
	b.leave()
	state(1, 0, 2)
	a.leave()
	state(0, 0, 0)
	if d, _ := ch.Deliver("x", []msg{"m"}); d != 0 {
		t.Fatalf("delivered %d after every client left", d)
	}
}

func TestDeliver(t *testing.T) {
	ch, m := newTest(t, 0, 100)
	attached := attach(ch, "news")
	held := attach(ch, "news")
	ch.Detach(held.gc)
	held.held, held.sess = true, nil
	gone := attach(ch, "news")
	gone.sess = nil // its session ended; the gateway has not released it yet
	slow := attach(ch, "news")
	slow.out = 101
	slowSess := slow.sess
	other := attach(ch, "sport")

	d, n := ch.Deliver("news", []msg{"m1", "m22"})
	if d != 4 || n != 10 {
		t.Errorf("delivered %d messages, %d bytes; want 4, 10 (two clients × two)", d, n)
	}
	if !slices.Equal(attached.sess.got, []string{"m1", "m22"}) || len(attached.written) != 0 {
		t.Errorf("attached: session got %q, written %q; want both through the session, in order", attached.sess.got, attached.written)
	}
	if !slices.Equal(held.written, []string{"m1", "m22"}) {
		t.Errorf("held: written %q, want both, in order", held.written)
	}
	if len(gone.written) != 0 || gone.slow {
		t.Errorf("a client neither held nor attached got %q (slow %v)", gone.written, gone.slow)
	}
	if !slow.slow || len(slowSess.got) != 0 {
		t.Errorf("slow consumer: closed %v, got %q; want closed with nothing", slow.slow, slowSess.got)
	}
	if len(other.sess.got) != 0 {
		t.Errorf("another channel's client got %q", other.sess.got)
	}
	if got := ch.table.Lookup("news").Len(); got != 3 {
		t.Errorf("%d clients left on the channel, want 3 (the slow one left)", got)
	}
	if d, _ := ch.Deliver("nobody", []msg{"m"}); d != 0 {
		t.Errorf("delivered %d to a channel with no client", d)
	}
	if got := value(t, m.subscriptions); got != 4 {
		t.Errorf("subscriptions gauge %v, want 4", got)
	}
}

// TestDeliverWhileClientsLeave: clients closed on the way (slow consumers)
// leave the group mid-walk; every other client still gets each message once.
func TestDeliverWhileClientsLeave(t *testing.T) {
	for _, slowAt := range [][]int{{0}, {4}, {0, 2, 4}, {1, 3}, {0, 1, 2, 3, 4}} {
		ch, _ := newTest(t, 0, 100)
		var sessions []*fakeSession
		for i := 0; i < 5; i++ {
			c := attach(ch, "t")
			if slices.Contains(slowAt, i) {
				c.out = 1000
			}
			sessions = append(sessions, c.sess)
		}
		ch.Deliver("t", []msg{"a", "b"})
		for i, s := range sessions {
			want := []string{"a", "b"}
			if slices.Contains(slowAt, i) {
				want = nil
			}
			if !slices.Equal(s.got, want) {
				t.Errorf("slow %v: client %d got %q, want %q", slowAt, i, s.got, want)
			}
		}
	}
}

func TestClose(t *testing.T) {
	ch, _ := newTest(t, 0, 100)
	attached := attach(ch, "room")
	attachedSess := attached.sess
	held := attach(ch, "room", "lobby")
	ch.Detach(held.gc)
	held.held, held.sess = true, nil
	other := attach(ch, "lobby")

	ch.Close("room", []byte("CLOSE"), 4000, "bye")
	if !slices.Equal(attachedSess.got, []string{"CLOSE+close"}) || attached.closed != "" {
		t.Errorf("attached: session got %q, closed %q; want the close frame through the session", attachedSess.got, attached.closed)
	}
	if held.closed != "4000 bye" {
		t.Errorf("held: closed %q, want 4000 bye", held.closed)
	}
	if len(other.sess.got) != 0 || other.closed != "" {
		t.Errorf("a client of another channel got %q, closed %q", other.sess.got, other.closed)
	}
	if got := ch.table.Lookup("lobby").Len(); got != 1 {
		t.Errorf("%d clients on lobby, want 1: the held client left all its channels", got)
	}
	ch.Close("nobody", []byte("CLOSE"), 1000, "")
}

func TestEvents(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	for _, k := range []string{"dropped", "dropped", "backlog", "detached", "control:subscribe", "control:subscribe",
		"control:keep-alive", "control:", "control", "bogus"} {
		m.Event(k)
	}
	m.Discarded()
	for _, c := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"dropped", m.dropped, 2},
		{"backlog", m.backlog, 1},
		{"discarded", m.discarded, 1},
		{"control:subscribe", m.control.WithLabelValues("subscribe"), 2},
		{"control:keep-alive", m.control.WithLabelValues("keep-alive"), 1},
		{"detached is Detach's to count", m.sessions.WithLabelValues("detached"), 0},
	} {
		if got := value(t, c.c); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	ch := make(chan prometheus.Metric, 16)
	m.control.Collect(ch)
	if n := len(ch); n != 2 {
		t.Errorf("%d control types counted, want 2 (an empty type is not one)", n)
	}
}
