package gateway

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// enrollLoop is a gnet event loop whose Enroll answers as told.
type enrollLoop struct {
	gnet.EventLoop
	err    error // Enroll's own error
	result error // the registration result's error
}

func (f *enrollLoop) Enroll(context.Context, net.Conn) (<-chan gnet.RegisteredResult, error) {
	if f.err != nil {
		return nil, f.err
	}
	ch := make(chan gnet.RegisteredResult, 1)
	ch <- gnet.RegisteredResult{Err: f.result}
	close(ch)
	return ch, nil
}

// TestEnrollResult: a registration that fails is reported as an error at
// once, not left to the connect timeout.
func TestEnrollResult(t *testing.T) {
	cases := []struct {
		name    string
		el      *enrollLoop
		wantErr string
	}{
		{"registered", &enrollLoop{}, ""},
		{"refused at once", &enrollLoop{err: errors.New("engine in shutdown")}, "engine in shutdown"},
		{"failed on the loop", &enrollLoop{result: errors.New("epoll_ctl: bad file descriptor")}, "epoll_ctl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			start := time.Now()
			err := enroll(c.el, &conn{}, a)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("enroll: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("enroll error %v, want one with %q", err, c.wantErr)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("reported after %v", d)
			}
		})
	}
}

// TestUpstreamReuse: a closed server connection's struct is reused by a later
// dial only from the next tick on (the callback that closed it may still hold
// it), and comes back as new; the free list is bounded.
func TestUpstreamReuse(t *testing.T) {
	l := &loop{}
	up := l.newUpstream(nil, 1)
	up.state, up.paused, up.need = stateClosed, true, 7
	l.freeUpstream(up)
	if again := l.newUpstream(nil, 2); again == up {
		t.Fatal("reused before the next tick")
	}
	l.recycleUpstreams()
	got := l.newUpstream(nil, 3)
	if got != up {
		t.Fatal("not reused after a tick")
	}
	if want := (conn{loop: l, upstream: true, groupIdx: -1, attempt: 3}); *got != want {
		t.Fatalf("reused struct %+v, want %+v", *got, want)
	}
	for range upFreeMax + 10 {
		l.freeUpstream(&conn{})
	}
	l.recycleUpstreams()
	if len(l.upFree) != upFreeMax || len(l.upClosed) != 0 {
		t.Fatalf("free list %d, closed list %d: want %d and 0", len(l.upFree), len(l.upClosed), upFreeMax)
	}
}
