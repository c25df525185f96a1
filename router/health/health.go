// Package health runs the active health checks of the backend servers and
// reports every server state change, whatever caused it.
//
// One scheduler goroutine keeps a timer heap of the servers' next check times
// and sleeps until the earliest; each due check runs in its own short-lived
// goroutine bounded by the check timeout and reports back to the scheduler,
// which applies the result (backend.Server.CheckResult: rise/fall) and
// schedules the next check `inter` after this one started. Checks are rare
// (one per server per inter), so a goroutine per running check costs nothing
// that matters, while a long-lived goroutine and ticker per server would
// cost a stack and a timer per server for the life of the process.
//
// Servers without `check=` are assumed up and never probed while up. If
// passive failures (the gateway's ConnectFailed) take one down, it is probed
// with a TCP connect every inter and comes back after `rise` successes —
// otherwise nothing would ever bring it back, since a down server gets no
// traffic to succeed with.
//
// The checker also installs itself as every pool's change hook, so passive
// and admin changes (ConnectFailed on an event loop, SetDrain from the admin
// API) are logged and reported through OnChange exactly like check results.
package health

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wsgate/wsgate/router/backend"
)

// Checker checks the servers of a set of pools. Set its fields before Run.
type Checker struct {
	// OnChange, if set, is called after each state change is logged. It runs
	// on the goroutine that caused the change (the scheduler for checks, an
	// event loop for passive failures, the admin handler for drain), so it
	// must be quick and must not block.
	OnChange func(pool *backend.Pool, s *backend.Server, from, to backend.State)
	// Logger receives one line per state change; nil means slog.Default().
	Logger *slog.Logger

	pools []*backend.Pool

	mu      sync.Mutex
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New returns a checker for pools and makes it the pools' change hook.
func New(pools []*backend.Pool) *Checker {
	c := &Checker{pools: pools}
	for _, p := range pools {
		p.SetOnChange(c.report)
	}
	return c
}

func (c *Checker) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// report logs a change ("server app/s1 is DOWN (fall 3/3): connection refused")
// and forwards it to OnChange.
func (c *Checker) report(ch backend.Change) {
	msg := fmt.Sprintf("server %s is %s (%s)", ch.Server, ch.To, ch.Counter)
	if ch.Reason != "" {
		msg += ": " + ch.Reason
	}
	level := slog.LevelInfo
	if ch.To == backend.Down {
		level = slog.LevelWarn
	}
	c.logger().Log(context.Background(), level, msg,
		"pool", ch.Pool.Name, "server", ch.Server.Name, "addr", ch.Server.Addr,
		"from", ch.From.String(), "to", ch.To.String(), "up", ch.Pool.Up(), "of", len(ch.Pool.Servers))
	if c.OnChange != nil {
		c.OnChange(ch.Pool, ch.Server, ch.From, ch.To)
	}
}

// ErrRunning is returned by Run when the checker is already running.
var ErrRunning = errors.New("health: checker already running")

// Run runs the checks until ctx is done or Stop is called, then waits for the
// checks in flight (cancelled, so promptly) and returns nil.
func (c *Checker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return ErrRunning
	}
	c.running, c.cancel, c.done = true, cancel, make(chan struct{})
	done := c.done
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
		close(done)
	}()

	var q queue
	now := time.Now()
	for _, p := range c.pools {
		for _, s := range p.Servers {
			q = append(q, &target{pool: p, srv: s})
		}
	}
	// Spread the first checks over the shortest inter instead of checking
	// every server at once.
	for i, t := range q {
		t.due = now.Add(time.Duration(int64(c.minInter()) * int64(i) / int64(len(q))))
		t.index = i
	}
	heap.Init(&q)

	results := make(chan result, len(q)) // at most one check per target in flight: never blocks
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var due <-chan time.Time
		if len(q) > 0 {
			timer.Reset(time.Until(q[0].due))
			due = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case now := <-due:
			for len(q) > 0 && !q[0].due.After(now) {
				t := heap.Pop(&q).(*target)
				probe := probeFor(t)
				if probe == nil {
					t.due = now.Add(t.pool.Opts.Inter)
					heap.Push(&q, t)
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, reason := probe(ctx)
					results <- result{t: t, ok: ok, reason: reason, start: now}
				}()
			}
		case r := <-results:
			if ctx.Err() != nil {
				return nil // a cancelled check says nothing about the server
			}
			r.t.srv.CheckResult(r.ok, r.reason)
			r.t.due = r.start.Add(r.t.pool.Opts.Inter)
			if now := time.Now(); r.t.due.Before(now) {
				r.t.due = now
			}
			heap.Push(&q, r.t)
		}
	}
}

func (c *Checker) minInter() time.Duration {
	var m time.Duration
	for _, p := range c.pools {
		if m == 0 || p.Opts.Inter < m {
			m = p.Opts.Inter
		}
	}
	return m
}

// Stop stops Run and waits for it to return, or for ctx to be done.
func (c *Checker) Stop(ctx context.Context) error {
	c.mu.Lock()
	if !c.running {
		c.mu.Unlock()
		return nil
	}
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// probeFor returns the check to run for t now, or nil for none: the pool's
// configured check, or for a pool without one a TCP probe of a server that
// passive failures took down.
func probeFor(t *target) func(context.Context) (bool, string) {
	o := t.pool.Opts
	timeout := o.Inter
	connect := min(o.ConnectTimeout, timeout)
	addr := t.srv.Addr
	switch {
	case o.Check.Kind == backend.CheckHTTP:
		return func(ctx context.Context) (bool, string) { return httpCheck(ctx, addr, o.Check.Path, connect, timeout) }
	case o.Check.Kind == backend.CheckTCP || !t.srv.Healthy():
		return func(ctx context.Context) (bool, string) { return tcpCheck(ctx, addr, connect) }
	}
	return nil
}

type target struct {
	pool  *backend.Pool
	srv   *backend.Server
	due   time.Time
	index int
}

type result struct {
	t      *target
	ok     bool
	reason string
	start  time.Time
}

// queue is a min-heap of targets by due time.
type queue []*target

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *queue) Push(x any) {
	t := x.(*target)
	t.index = len(*q)
	*q = append(*q, t)
}
func (q *queue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return t
}
