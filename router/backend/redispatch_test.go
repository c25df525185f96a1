package backend

import (
	"errors"
	"testing"
)

func TestAdmit(t *testing.T) {
	cases := []struct {
		name      string
		spec      string
		setCookie bool
		fill      bool // take the server's only slot first
		acquired  bool
		queue     bool
	}{
		{"free slot", "app=a@h:1;maxconn=1", false, false, true, false},
		{"full, no queue", "app=a@h:1;maxconn=1", false, true, false, false},
		{"full, queue", "app=a@h:1;maxconn=1;queue=5", false, true, false, true},
		{"full, queue, new sticky session", "app=a@h:1;maxconn=1;queue=5;cookie=SID", true, true, false, true},
		{"full, queue, bound by cookie", "app=a@h:1;maxconn=1;queue=5;cookie=SID", false, true, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mustParse(t, c.spec)
			a := p.Server("a")
			if c.fill && !a.Acquire() {
				t.Fatal("first Acquire failed")
			}
			acq, q := p.Admit(a, c.setCookie)
			if acq != c.acquired || q != c.queue {
				t.Fatalf("Admit = (%v, %v), want (%v, %v)", acq, q, c.acquired, c.queue)
			}
			want := int64(0)
			if c.fill {
				want++
			}
			if c.acquired {
				want++
			}
			if a.Active() != want {
				t.Fatalf("active %d, want %d", a.Active(), want)
			}
		})
	}
}

func TestRedispatch(t *testing.T) {
	p := mustParse(t, "app=a@h:1,b@h:2*3,c@h:3;maxconn=1")
	a, b, c := p.Server("a"), p.Server("b"), p.Server("c")
	got := p.Redispatch(a)
	if got == nil || got == a {
		t.Fatalf("Redispatch(a) = %v, want another server", got)
	}
	if got.Active() != 1 {
		t.Fatalf("redispatched server not acquired: active %d", got.Active())
	}
	// Only the failed server has a free slot: nothing to go to.
	for _, s := range []*Server{b, c} {
		if s != got && !s.Acquire() {
			t.Fatal("Acquire")
		}
	}
	if s := p.Redispatch(a); s != nil {
		t.Fatalf("every other server full: Redispatch = %v, want nil", s)
	}
	// No server up at all.
	for _, s := range p.Servers {
		s.ConnectFailed(errors.New("refused"))
		s.ConnectFailed(errors.New("refused"))
		s.ConnectFailed(errors.New("refused"))
	}
	if s := p.Redispatch(nil); s != nil {
		t.Fatalf("pool down: Redispatch = %v, want nil", s)
	}
}

func TestRedispatchWalksHashPool(t *testing.T) {
	// A hashing balancer with an empty request falls back to round robin:
	// the one other usable server is found whatever the hash.
	p := mustParse(t, "app=a@h:1,b@h:2,c@h:3;balance=source")
	b := p.Server("b")
	p.Server("c").SetMaint(true)
	for range 5 {
		s := p.Redispatch(p.Server("a"))
		if s != b {
			t.Fatalf("Redispatch = %v, want b", s)
		}
		s.Release()
	}
}

func TestStick(t *testing.T) {
	p := mustParse(t, "app=a@h:1;cookie=SERVERID")
	if v := p.Stick(p.Server("a")); v != "SERVERID=a; Path=/" {
		t.Fatalf("Stick = %q", v)
	}
	if v := mustParse(t, "app=a@h:1").Stick(p.Server("a")); v != "" {
		t.Fatalf("no cookie: Stick = %q, want empty", v)
	}
}
