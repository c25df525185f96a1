package balance

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeSet is a Set of servers with settable up state and load.
type fakeSet struct {
	ids     []string
	weights []int
	down    []atomic.Bool
	load    []atomic.Int64
}

func newFake(weights ...int) *fakeSet {
	f := &fakeSet{weights: weights, down: make([]atomic.Bool, len(weights)), load: make([]atomic.Int64, len(weights))}
	for i := range weights {
		f.ids = append(f.ids, fmt.Sprintf("s%d", i+1))
	}
	return f
}

func (f *fakeSet) Len() int              { return len(f.weights) }
func (f *fakeSet) Weight(i int) int      { return f.weights[i] }
func (f *fakeSet) ID(i int) string       { return f.ids[i] }
func (f *fakeSet) Usable(i int) bool     { return !f.down[i].Load() }
func (f *fakeSet) Load(i int) int64      { return f.load[i].Load() }
func (f *fakeSet) setDown(i int, d bool) { f.down[i].Store(d) }

func counts(b Balancer, n int, key func(int) string) map[int]int {
	c := map[int]int{}
	for k := range n {
		c[b.Pick(key(k))]++
	}
	return c
}

func noKey(int) string { return "" }

func TestParseMethod(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"roundrobin", "roundrobin", ""},
		{"leastconn", "leastconn", ""},
		{"source", "source", ""},
		{"uri", "uri", ""},
		{"hdr:X-User", "hdr:x-user", ""},
		{"query:room", "query:room", ""},
		{"random", "", `balance "random": unknown method (want roundrobin, leastconn, source, uri, hdr:NAME or query:NAME)`},
		{"hdr", "", `balance "hdr": want hdr:NAME`},
		{"query:", "", `balance "query:": want query:NAME`},
		{"uri:whole", "", `balance "uri:whole": uri takes no argument`},
		{"hdr:a b", "", `balance "hdr:a b": bad hdr name "a b"`},
	} {
		m, err := ParseMethod(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseMethod(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || m.String() != tc.want {
			t.Errorf("ParseMethod(%q) = %v, %v; want %s", tc.in, m, err, tc.want)
		}
	}
}

func TestRoundRobinExactWeights(t *testing.T) {
	b := NewRoundRobin(newFake(1, 2))
	c := counts(b, 300, noKey)
	if c[0] != 100 || c[1] != 200 {
		t.Fatalf("weights 1:2 over 300 picks: got %v, want 0:100 1:200", c)
	}
}

func TestRoundRobinSmooth(t *testing.T) {
	b := NewRoundRobin(newFake(5, 1, 1))
	var seq []int
	for range 7 {
		seq = append(seq, b.Pick(""))
	}
	// nginx's documented sequence for weights 5,1,1: a a b a c a a.
	if fmt.Sprint(seq) != "[0 0 1 0 2 0 0]" {
		t.Fatalf("sequence %v, want [0 0 1 0 2 0 0]", seq)
	}
}

func TestRoundRobinSkipsDownAndZeroWeight(t *testing.T) {
	f := newFake(1, 1, 1, 0)
	b := NewRoundRobin(f)
	f.setDown(1, true)
	c := counts(b, 100, noKey)
	if c[0] != 50 || c[2] != 50 || c[1] != 0 || c[3] != 0 {
		t.Fatalf("got %v, want 0:50 2:50", c)
	}
	f.setDown(0, true)
	f.setDown(2, true)
	if got := b.Pick(""); got != -1 {
		t.Fatalf("all down: Pick = %d, want -1", got)
	}
}

func TestRoundRobinConcurrent(t *testing.T) {
	b := NewRoundRobin(newFake(1, 3))
	var wg sync.WaitGroup
	var n [2]atomic.Int64
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				n[b.Pick("")].Add(1)
			}
		})
	}
	wg.Wait()
	if n[0].Load() != 1000 || n[1].Load() != 3000 {
		t.Fatalf("4000 concurrent picks at 1:3: got %d:%d", n[0].Load(), n[1].Load())
	}
}

func TestLeastConnPicksLeastLoaded(t *testing.T) {
	f := newFake(1, 1, 1)
	f.load[0].Store(5)
	f.load[1].Store(2)
	f.load[2].Store(7)
	b := NewLeastConn(f)
	for range 10 {
		if got := b.Pick(""); got != 1 {
			t.Fatalf("loads 5,2,7: Pick = %d, want 1", got)
		}
	}
	// Per unit of weight: 6/3 = 2 beats 3/1.
	f = newFake(1, 3)
	f.load[0].Store(3)
	f.load[1].Store(6)
	if got := NewLeastConn(f).Pick(""); got != 1 {
		t.Fatalf("loads 3/1 vs 6/3: Pick = %d, want 1", got)
	}
	// A down server is skipped even when idle.
	f = newFake(1, 1)
	f.load[1].Store(100)
	f.setDown(0, true)
	if got := NewLeastConn(f).Pick(""); got != 1 {
		t.Fatalf("idle server down: Pick = %d, want 1", got)
	}
}

func TestLeastConnFillsEvenlyAndTiesRotate(t *testing.T) {
	f := newFake(1, 1, 1, 1)
	b := NewLeastConn(f)
	// Equal load: ties are taken in turn.
	c := counts(b, 400, noKey)
	for i := range 4 {
		if c[i] != 100 {
			t.Fatalf("equal loads, 400 picks: got %v, want 100 each", c)
		}
	}
	// Sessions that stay open: each pick counts; the loads stay within 1.
	f.load[0].Store(10)
	for range 30 {
		f.load[b.Pick("")].Add(1)
	}
	// 10+0+0+0 +30 = 40 sessions: leastconn fills the three empty ones to 10 each.
	for i, want := range []int64{10, 10, 10, 10} {
		if got := f.load[i].Load(); got != want {
			t.Fatalf("server %d load %d, want %d (loads %d %d %d %d)", i, got, want,
				f.load[0].Load(), f.load[1].Load(), f.load[2].Load(), f.load[3].Load())
		}
	}
}

func TestHashGolden(t *testing.T) {
	// These values must never change: every gateway node, and every release,
	// has to map a key to the same ring position. Cross-checked with an
	// independent Python implementation of FNV-1a 64 + fmix64.
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"", 0xefd01f60ba992926},
		{"10.0.0.1", 0xc879e56ddc6c5c88},
		{"s1#0", 0xdfbe166112ebb2be},
	} {
		if got := Hash(tc.in); got != tc.want {
			t.Errorf("Hash(%q) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

func keyN(k int) string { return fmt.Sprintf("user-%d", k) }

func TestCHashStableAcrossNodes(t *testing.T) {
	// Two independently built balancers (two gateway nodes) agree on every key.
	a, b := NewCHash(newFake(1, 1, 2, 1)), NewCHash(newFake(1, 1, 2, 1))
	for k := range 10000 {
		if pa, pb := a.Pick(keyN(k)), b.Pick(keyN(k)); pa != pb {
			t.Fatalf("key %q: node A picks %d, node B picks %d", keyN(k), pa, pb)
		}
	}
}

func TestCHashDistributionFollowsWeight(t *testing.T) {
	b := NewCHash(newFake(1, 1, 2))
	c := counts(b, 10000, keyN)
	// Expected 2500, 2500, 5000; allow ±20% of each share.
	for i, want := range []int{2500, 2500, 5000} {
		if c[i] < want*8/10 || c[i] > want*12/10 {
			t.Fatalf("weights 1:1:2 over 10k keys: got %v", c)
		}
	}
	t.Logf("weights 1:1:2 over 10k keys: %v", c)
}

func TestCHashAddServerMovesFewKeys(t *testing.T) {
	const keys = 10000
	before := NewCHash(newFake(1, 1, 1, 1))
	after := NewCHash(newFake(1, 1, 1, 1, 1))
	moved := 0
	for k := range keys {
		pb, pa := before.Pick(keyN(k)), after.Pick(keyN(k))
		if pb == pa {
			continue
		}
		moved++
		if pa != 4 {
			t.Fatalf("key %q moved from server %d to %d, not to the new server 4", keyN(k), pb, pa)
		}
	}
	limit := keys * 3 / 2 / 5 // 1.5/N with N = 5
	t.Logf("adding a 5th server moved %d of %d keys (ideal %d, limit %d)", moved, keys, keys/5, limit)
	if moved > limit || moved == 0 {
		t.Fatalf("moved %d keys, want 0 < moved <= %d", moved, limit)
	}
}

func TestCHashDownServerKeysReturn(t *testing.T) {
	f := newFake(1, 1, 1, 1)
	b := NewCHash(f)
	orig := make([]int, 10000)
	for k := range orig {
		orig[k] = b.Pick(keyN(k))
	}
	f.setDown(2, true)
	moved := 0
	for k, o := range orig {
		p := b.Pick(keyN(k))
		switch {
		case p == 2:
			t.Fatalf("key %q still goes to the down server", keyN(k))
		case o == 2:
			moved++
		case p != o:
			t.Fatalf("key %q of up server %d moved to %d", keyN(k), o, p)
		}
	}
	if moved == 0 {
		t.Fatal("the down server had no keys")
	}
	f.setDown(2, false)
	for k, o := range orig {
		if p := b.Pick(keyN(k)); p != o {
			t.Fatalf("server back up: key %q goes to %d, want %d", keyN(k), p, o)
		}
	}
	for i := range 4 {
		f.setDown(i, true)
	}
	if p := b.Pick("x"); p != -1 {
		t.Fatalf("all down: Pick = %d, want -1", p)
	}
}

func TestCHashEmptyKeyRoundRobin(t *testing.T) {
	c := counts(NewCHash(newFake(1, 1, 1)), 300, noKey)
	if c[0] != 100 || c[1] != 100 || c[2] != 100 {
		t.Fatalf("empty key: got %v, want 100 each", c)
	}
}

func BenchmarkPick(b *testing.B) {
	for _, m := range []string{"roundrobin", "leastconn", "source"} {
		meth, _ := ParseMethod(m)
		bal, _ := New(meth, newFake(1, 1, 2, 1, 1, 1, 3, 1))
		b.Run(m, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				bal.Pick("10.1.2.3")
			}
		})
	}
}
