package backend

import (
	"errors"
	"fmt"
	"net/url"
	"sync"
	"testing"
)

func pick(t *testing.T, p *Pool, r *Request) (string, bool) {
	t.Helper()
	s, set, err := p.Pick(r)
	if err != nil {
		t.Fatalf("Pick: %v", err)
	}
	return s.Name, set
}

func TestPickRoundRobinWeights(t *testing.T) {
	p := mustParse(t, "app=a@h:1,b@h:2*2")
	n := map[string]int{}
	for range 300 {
		name, set := pick(t, p, &Request{})
		if set {
			t.Fatal("setCookie without a cookie configured")
		}
		n[name]++
	}
	if n["a"] != 100 || n["b"] != 200 {
		t.Fatalf("weights 1:2 over 300 picks: %v", n)
	}
}

func TestPickCookie(t *testing.T) {
	p := mustParse(t, "app=a@h:1,b@h:2,c@h:3;cookie=SERVERID")
	a, b := p.Server("a"), p.Server("b")
	// No cookie: balancer, set it.
	if name, set := pick(t, p, &Request{}); !set {
		t.Fatalf("no cookie: %s without setCookie", name)
	}
	// Cookie of an up server: always that one, no Set-Cookie.
	for range 10 {
		if name, set := pick(t, p, &Request{Cookie: "b"}); name != "b" || set {
			t.Fatalf("cookie b: got %s setCookie=%v", name, set)
		}
	}
	// Unknown cookie: redispatch and set.
	if _, set := pick(t, p, &Request{Cookie: "zz"}); !set {
		t.Fatal("unknown cookie: no setCookie")
	}
	// Drain keeps sticky sessions but gets no new ones.
	b.SetDrain(true)
	if b.State() != Drain {
		t.Fatalf("state %v, want DRAIN", b.State())
	}
	if name, set := pick(t, p, &Request{Cookie: "b"}); name != "b" || set {
		t.Fatalf("draining b with its cookie: got %s setCookie=%v", name, set)
	}
	for range 30 {
		if name, _ := pick(t, p, &Request{}); name == "b" {
			t.Fatal("draining server got a new session")
		}
	}
	b.SetDrain(false)
	// Down or maint: redispatch to another server and reset the cookie.
	for _, st := range []string{"down", "maint"} {
		if st == "down" {
			a.down.Store(true)
		} else {
			a.SetMaint(true)
		}
		for range 10 {
			if name, set := pick(t, p, &Request{Cookie: "a"}); name == "a" || !set {
				t.Fatalf("%s a with its cookie: got %s setCookie=%v", st, name, set)
			}
		}
		a.down.Store(false)
		a.SetMaint(false)
	}
	// Weight 0: only sticky sessions.
	p = mustParse(t, "app=a@h:1,b@h:2*0;cookie=SRV")
	for range 10 {
		if name, _ := pick(t, p, &Request{}); name != "a" {
			t.Fatal("weight 0 server got a new session")
		}
	}
	if name, _ := pick(t, p, &Request{Cookie: "b"}); name != "b" {
		t.Fatal("weight 0 server lost its sticky session")
	}
}

func TestPickNoServer(t *testing.T) {
	p := mustParse(t, "app=a@h:1,b@h:2;cookie=S")
	p.Server("a").down.Store(true)
	p.Server("b").SetMaint(true)
	for _, r := range []*Request{nil, {}, {Cookie: "a"}, {Cookie: "b"}} {
		if s, _, err := p.Pick(r); !errors.Is(err, ErrNoServer) {
			t.Fatalf("all down: Pick(%+v) = %v, %v", r, s, err)
		}
	}
}

func TestMaxConn(t *testing.T) {
	p := mustParse(t, "app=a@h:1,b@h:2;maxconn=2")
	var got []*Server
	for range 4 {
		s, _, err := p.Pick(&Request{})
		if err != nil || !s.Acquire() {
			t.Fatalf("Pick/Acquire: %v", err)
		}
		got = append(got, s)
	}
	if p.Server("a").Active() != 2 || p.Server("b").Active() != 2 {
		t.Fatalf("active %d %d", p.Server("a").Active(), p.Server("b").Active())
	}
	if _, _, err := p.Pick(&Request{}); !errors.Is(err, ErrFull) {
		t.Fatalf("all at maxconn: %v, want ErrFull", err)
	}
	if p.Server("a").Acquire() {
		t.Fatal("Acquire over maxconn")
	}
	got[0].Release()
	if s, _, err := p.Pick(&Request{}); err != nil || s != got[0] {
		t.Fatalf("after a release: %v %v", s, err)
	}
	if a := p.Server("a"); a.Total() != 2 {
		t.Fatalf("total %d", a.Total())
	}
}

func TestAcquireConcurrentLimit(t *testing.T) {
	p := mustParse(t, "app=a@h:1;maxconn=50")
	s := p.Servers[0]
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if s.Acquire() {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if ok != 50 || s.Active() != 50 {
		t.Fatalf("800 concurrent Acquires at maxconn 50: %d granted, active %d", ok, s.Active())
	}
}

func TestQueue(t *testing.T) {
	p := mustParse(t, "app=a@h:1;maxconn=1;queue=2")
	a := p.Servers[0]
	if !a.Acquire() {
		t.Fatal("first Acquire")
	}
	var granted []string
	var ws []*Waiter
	for i := range 3 {
		if _, _, err := p.Pick(&Request{}); !errors.Is(err, ErrFull) {
			t.Fatalf("Pick at maxconn: %v", err)
		}
		w, ok := p.Enqueue(&Request{}, func(s *Server) { granted = append(granted, fmt.Sprintf("%d %s", i, s.Name)) })
		if ok != (i < 2) {
			t.Fatalf("Enqueue %d = %v (queue=2)", i, ok)
		}
		ws = append(ws, w)
	}
	a.Release() // the slot goes to waiter 0, already acquired
	if fmt.Sprint(granted) != "[0 a]" || a.Active() != 1 || p.Queued() != 1 {
		t.Fatalf("after release: granted %v active %d queued %d", granted, a.Active(), p.Queued())
	}
	if p.Cancel(ws[0]) {
		t.Fatal("Cancel of a granted waiter returned true")
	}
	if !p.Cancel(ws[1]) || p.Queued() != 0 {
		t.Fatal("Cancel of a queued waiter")
	}
	a.Release()
	if len(granted) != 1 || a.Active() != 0 {
		t.Fatalf("cancelled waiter was served: %v", granted)
	}
	// A server coming back up serves the queue.
	a.down.Store(true)
	if _, ok := p.Enqueue(nil, func(s *Server) { granted = append(granted, "up "+s.Name) }); !ok {
		t.Fatal("Enqueue")
	}
	a.CheckResult(true, "ok")
	a.CheckResult(true, "ok") // rise 2
	if fmt.Sprint(granted) != "[0 a up a]" {
		t.Fatalf("server up: granted %v", granted)
	}
}

func TestPassiveFall(t *testing.T) {
	p := mustParse(t, "app=a@h:1,b@h:2;fall=3;rise=2")
	a := p.Server("a")
	var changes []string
	p.SetOnChange(func(c Change) {
		changes = append(changes, fmt.Sprintf("%s %v->%v %s: %s", c.Server, c.From, c.To, c.Counter, c.Reason))
	})
	refused := errors.New("dial tcp h:1: connect: connection refused")
	a.ConnectFailed(refused)
	a.ConnectFailed(refused)
	a.ConnectOK() // resets the count
	a.ConnectFailed(refused)
	a.ConnectFailed(refused)
	if a.State() != Up {
		t.Fatal("down before fall consecutive failures")
	}
	a.ConnectFailed(refused)
	if a.State() != Down {
		t.Fatalf("state %v after 3 failures", a.State())
	}
	for range 10 {
		if name, _ := pick(t, p, nil); name != "b" {
			t.Fatal("down server picked")
		}
	}
	a.CheckResult(true, "L4OK")
	a.CheckResult(false, "timeout") // resets rise
	a.CheckResult(true, "L4OK")
	if a.State() != Down {
		t.Fatal("up before rise consecutive successes")
	}
	a.CheckResult(true, "L4OK")
	want := `[app/a UP->DOWN fall 3/3: passive: dial tcp h:1: connect: connection refused app/a DOWN->UP rise 2/2: L4OK]`
	if fmt.Sprint(changes) != want {
		t.Fatalf("changes\n got  %v\n want %s", changes, want)
	}
	// Maintenance hides health changes: no report while in MAINT.
	changes = nil
	a.SetMaint(true)
	for range 3 {
		a.CheckResult(false, "x")
	}
	a.SetMaint(false)
	if fmt.Sprint(changes) != `[app/a UP->MAINT admin:  app/a MAINT->DOWN admin: ]` {
		t.Fatalf("maint changes: %v", changes)
	}
	if st := a.Stats(); st.State != Down || st.LastCheck != "x" || st.Pool != "app" || st.LastChange.IsZero() {
		t.Fatalf("stats %+v", st)
	}
}

func TestHashKeys(t *testing.T) {
	q := func(v url.Values) func(string) string { return v.Get }
	hdr := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		balance string
		r       Request
		key     string
	}{
		{"source", Request{SourceIP: "10.1.2.3"}, "10.1.2.3"},
		{"source", Request{SourceIP: "10.1.2.3:5555"}, "10.1.2.3"},
		{"source", Request{SourceIP: "[::1]:5555"}, "::1"},
		{"source", Request{SourceIP: "::1"}, "::1"},
		{"uri", Request{URI: "/ws/room?x=1", Path: "/ws/room"}, "/ws/room"},
		{"uri", Request{URI: "/ws/room?x=1"}, "/ws/room"},
		{"hdr:X-User", Request{Header: hdr(map[string]string{"x-user": "bob"})}, "bob"},
		{"hdr:X-User", Request{}, ""},
		{"query:room", Request{Query: q(url.Values{"room": {"42"}})}, "42"},
		{"query:room", Request{}, ""},
		{"roundrobin", Request{SourceIP: "10.1.2.3"}, ""},
	} {
		p := mustParse(t, "app=h:1;balance="+tc.balance)
		if got := p.key(&tc.r); got != tc.key {
			t.Errorf("%s: key %q, want %q", tc.balance, got, tc.key)
		}
	}
}

// Two gateway nodes, each with its own pool built from the same flag, send
// every client IP to the same server; a down server's clients move and come
// back.
func TestSourceHashAcrossNodes(t *testing.T) {
	const spec = "app=h:1,h:2,h:3*2,h:4;balance=source"
	n1, n2 := mustParse(t, spec), mustParse(t, spec)
	ip := func(k int) string { return fmt.Sprintf("10.%d.%d.%d", k>>16&255, k>>8&255, k&255) }
	orig := make([]string, 10000)
	for k := range orig {
		a, _ := pick(t, n1, &Request{SourceIP: ip(k)})
		b, _ := pick(t, n2, &Request{SourceIP: ip(k)})
		if a != b {
			t.Fatalf("%s: node 1 %s, node 2 %s", ip(k), a, b)
		}
		orig[k] = a
	}
	n1.Server("s3").down.Store(true)
	for k, o := range orig {
		if a, _ := pick(t, n1, &Request{SourceIP: ip(k)}); a == "s3" || (o != "s3" && a != o) {
			t.Fatalf("s3 down: %s went %s -> %s", ip(k), o, a)
		}
	}
	n1.Server("s3").down.Store(false)
	for k, o := range orig {
		if a, _ := pick(t, n1, &Request{SourceIP: ip(k)}); a != o {
			t.Fatalf("s3 back: %s went to %s, want %s", ip(k), a, o)
		}
	}
}

func TestPickConcurrent(t *testing.T) {
	p := mustParse(t, "app=h:1,h:2,h:3;balance=leastconn;cookie=S")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				s, _, err := p.Pick(&Request{Cookie: []string{"", "s1", "bad"}[i%3]})
				if err != nil {
					t.Error(err)
					return
				}
				if s.Acquire() {
					if i%2 == g%2 {
						s.Release()
					}
				}
				if i%100 == 0 {
					p.Servers[1].SetDrain(i%200 == 0) // the others stay up
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkPick(b *testing.B) {
	for _, bal := range []string{"roundrobin", "leastconn", "source"} {
		p := mustParse(b, "app=h:1,h:2,h:3,h:4,h:5,h:6,h:7,h:8;cookie=S;balance="+bal)
		r := &Request{SourceIP: "10.1.2.3"}
		b.Run(bal, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := p.Pick(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	p := mustParse(b, "app=h:1,h:2;cookie=S")
	b.Run("sticky", func(b *testing.B) {
		b.ReportAllocs()
		r := &Request{Cookie: "s2"}
		for b.Loop() {
			p.Pick(r)
		}
	})
}

func TestReleaseWithoutAcquire(t *testing.T) {
	s := mustParse(t, "app=h:1").Servers[0]
	s.Release()
	if s.Active() != 0 {
		t.Fatalf("active %d after a stray Release", s.Active())
	}
}
