package backend

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// State is a server's effective state, as the stats page and the logs show it.
type State int32

// The states. A server is health-wise up or down (checks, passive failures)
// and admin-wise ready, draining or in maintenance; State combines the two
// with maintenance first, then down, then drain.
const (
	Up    State = iota // takes new sessions
	Down               // failed its checks (or `fall` connects in a row): no traffic
	Drain              // admin: no new sessions except sticky ones; existing ones kept
	Maint              // admin: no traffic at all, sticky or not
)

func (s State) String() string {
	switch s {
	case Up:
		return "UP"
	case Down:
		return "DOWN"
	case Drain:
		return "DRAIN"
	case Maint:
		return "MAINT"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Admin flags.
const (
	adminDrain int32 = 1 << iota
	adminMaint
)

// Server is one backend server of a pool. The exported fields are its
// configuration and never change after Parse; everything else is live state,
// safe for concurrent use (event loops, the health checker, the admin API).
type Server struct {
	Name    string // unique in the pool; the stickiness cookie's value
	Addr    string // host:port to dial
	Weight  int    // 0..256; 0 takes only sticky sessions
	MaxConn int    // concurrent sessions; 0 = unlimited

	pool *Pool

	down  atomic.Bool  // health: failed checks or passive failures
	admin atomic.Int32 // adminDrain | adminMaint

	active   atomic.Int64
	total    atomic.Uint64
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64

	// fails mirrors hc.fails for ConnectOK's lock-free fast path.
	fails atomic.Int32

	mu sync.Mutex // guards hc and serializes state changes
	hc struct {
		fails, oks int
		lastCheck  string    // last check or passive result, for stats
		lastChange time.Time // last state change
	}
}

// Pool returns the pool the server belongs to.
func (s *Server) Pool() *Pool { return s.pool }

// State returns the server's effective state.
func (s *Server) State() State {
	a := s.admin.Load()
	switch {
	case a&adminMaint != 0:
		return Maint
	case s.down.Load():
		return Down
	case a&adminDrain != 0:
		return Drain
	}
	return Up
}

// Healthy reports the health half of the state: false after `fall`
// consecutive failures until `rise` consecutive successes.
func (s *Server) Healthy() bool { return !s.down.Load() }

// usable reports whether the balancer may give the server a new session.
func (s *Server) usable() bool {
	return s.State() == Up && (s.MaxConn <= 0 || s.active.Load() < int64(s.MaxConn))
}

// Acquire counts a new session. It returns false, counting nothing, when the
// server already has MaxConn sessions. Every true must be paired with one Release.
func (s *Server) Acquire() bool {
	for {
		n := s.active.Load()
		if s.MaxConn > 0 && n >= int64(s.MaxConn) {
			return false
		}
		if s.active.CompareAndSwap(n, n+1) {
			s.total.Add(1)
			return true
		}
	}
}

// Release ends a session counted by Acquire. If the pool has queued sessions,
// the freed slot goes to the oldest of them (see Pool.Enqueue).
func (s *Server) Release() {
	if s.active.Add(-1) < 0 {
		// A Release without its Acquire is a gateway bug; undo it rather than
		// crash an event loop holding every other connection.
		s.active.Add(1)
		return
	}
	if s.pool != nil {
		s.pool.dequeue()
	}
}

// Active is the number of current sessions.
func (s *Server) Active() int64 { return s.active.Load() }

// Total is the number of sessions ever acquired.
func (s *Server) Total() uint64 { return s.total.Load() }

// AddBytesIn counts bytes received from the server.
func (s *Server) AddBytesIn(n int) { s.bytesIn.Add(uint64(n)) }

// AddBytesOut counts bytes sent to the server.
func (s *Server) AddBytesOut(n int) { s.bytesOut.Add(uint64(n)) }

// BytesIn is the number of bytes received from the server.
func (s *Server) BytesIn() uint64 { return s.bytesIn.Load() }

// BytesOut is the number of bytes sent to the server.
func (s *Server) BytesOut() uint64 { return s.bytesOut.Load() }

// String is "pool/server", the name logs and -drain use.
func (s *Server) String() string {
	if s.pool == nil {
		return s.Name
	}
	return s.pool.Name + "/" + s.Name
}

// ConnectFailed is the passive check: the gateway calls it when a connect to
// the server fails or times out. It counts toward `fall` together with failed
// active checks; at `fall` consecutive failures the server goes down.
func (s *Server) ConnectFailed(err error) {
	s.result(false, "passive: "+Reason(err))
}

// ConnectOK resets the consecutive failure count after a successful connect.
// It never raises a down server (only checks do), and costs two atomic loads
// when there is nothing to reset.
func (s *Server) ConnectOK() {
	if s.fails.Load() == 0 {
		return
	}
	s.mu.Lock()
	if !s.down.Load() {
		s.hc.fails = 0
		s.fails.Store(0)
	}
	s.mu.Unlock()
}

// CheckResult records an active check's outcome (called by router/health):
// `rise` consecutive successes bring a down server up, `fall` consecutive
// failures take an up server down. reason is logged and shown on the stats page.
func (s *Server) CheckResult(ok bool, reason string) {
	s.result(ok, reason)
}

func (s *Server) result(ok bool, reason string) {
	rise, fall := 1, 1
	if s.pool != nil {
		rise, fall = max(s.pool.Opts.Rise, 1), max(s.pool.Opts.Fall, 1)
	}
	s.mu.Lock()
	s.hc.lastCheck = reason
	var ch *Change
	down := s.down.Load()
	switch {
	case ok && down:
		s.hc.fails = 0
		s.hc.oks++
		if s.hc.oks >= rise {
			ch = s.setHealthLocked(false, fmt.Sprintf("rise %d/%d", s.hc.oks, rise), reason)
			s.hc.oks = 0
		}
	case ok:
		s.hc.fails = 0
	case down:
		s.hc.oks = 0
	default:
		s.hc.fails++
		if s.hc.fails >= fall {
			ch = s.setHealthLocked(true, fmt.Sprintf("fall %d/%d", s.hc.fails, fall), reason)
			s.hc.fails = 0
		}
	}
	s.fails.Store(int32(s.hc.fails))
	s.mu.Unlock()
	s.notify(ch)
}

// setHealthLocked flips the health half and returns the change to report, or
// nil if the effective state did not change (a server in maintenance).
func (s *Server) setHealthLocked(down bool, counter, reason string) *Change {
	from := s.State()
	s.down.Store(down)
	return s.changedLocked(from, counter, reason)
}

func (s *Server) changedLocked(from State, counter, reason string) *Change {
	to := s.State()
	if to == from {
		return nil
	}
	s.hc.lastChange = time.Now()
	return &Change{Pool: s.pool, Server: s, From: from, To: to, Counter: counter, Reason: reason}
}

// SetDrain puts the server in drain (on) or takes it out: a draining server
// gets no new sessions from the balancer, but requests carrying its cookie
// still go to it (HAProxy's drain keeps persistent sessions) and its existing
// sessions are left alone.
func (s *Server) SetDrain(on bool) { s.setAdmin(adminDrain, on) }

// SetMaint puts the server in maintenance (on) or takes it out: no new
// sessions at all, sticky ones included. Existing sessions are the gateway's
// to close or keep.
func (s *Server) SetMaint(on bool) { s.setAdmin(adminMaint, on) }

func (s *Server) setAdmin(flag int32, on bool) {
	s.mu.Lock()
	from := s.State()
	if on {
		s.admin.Or(flag)
	} else {
		s.admin.And(^flag)
	}
	ch := s.changedLocked(from, "admin", "")
	s.mu.Unlock()
	s.notify(ch) // a change to UP also hands the freed capacity to queued sessions
}

func (s *Server) notify(ch *Change) {
	if ch == nil || s.pool == nil {
		return
	}
	if ch.To == Up {
		s.pool.dequeue()
	}
	if fn := s.pool.onChange.Load(); fn != nil {
		(*fn)(*ch)
	}
}

// Stats is a snapshot of a server for the stats page and metrics.
type Stats struct {
	Pool       string    `json:"pool"`
	Name       string    `json:"name"`
	Addr       string    `json:"addr"`
	State      State     `json:"state"`
	Weight     int       `json:"weight"`
	MaxConn    int       `json:"maxconn"`
	Active     int64     `json:"sessions"`
	Total      uint64    `json:"sessions_total"`
	BytesIn    uint64    `json:"bytes_in"`
	BytesOut   uint64    `json:"bytes_out"`
	LastCheck  string    `json:"last_check"`  // last check or passive result ("" before the first)
	LastChange time.Time `json:"last_change"` // zero if the state never changed
}

// MarshalText writes the state as UP, DOWN, DRAIN or MAINT (JSON, logs).
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Stats returns a snapshot of the server.
func (s *Server) Stats() Stats {
	st := Stats{Name: s.Name, Addr: s.Addr, State: s.State(), Weight: s.Weight, MaxConn: s.MaxConn,
		Active: s.Active(), Total: s.Total(), BytesIn: s.BytesIn(), BytesOut: s.BytesOut()}
	if s.pool != nil {
		st.Pool = s.pool.Name
	}
	s.mu.Lock()
	st.LastCheck, st.LastChange = s.hc.lastCheck, s.hc.lastChange
	s.mu.Unlock()
	return st
}

// Change is a state transition, reported to the pool's OnChange hook.
type Change struct {
	Pool     *Pool
	Server   *Server
	From, To State
	Counter  string // "rise 2/2", "fall 3/3" or "admin"
	Reason   string // the last check's result or the connect error ("" for admin changes)
}

// Reason shortens a dial or I/O error to what an operator needs in a log line:
// "connection refused", "timeout", or the error text.
func Reason(err error) string {
	if err == nil {
		return "ok"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var to interface{ Timeout() bool }
	if errors.As(err, &to) && to.Timeout() {
		return "timeout"
	}
	return err.Error()
}

// Inherit carries the live state of old (the same server in the configuration
// a reload replaces) over to s: health, admin state, counters for the stats
// page. Sessions keep counting on old, which they hold, until they end.
func (s *Server) Inherit(old *Server) {
	old.mu.Lock()
	hc := old.hc
	old.mu.Unlock()
	s.mu.Lock()
	s.hc = hc
	s.down.Store(old.down.Load())
	s.admin.Store(old.admin.Load())
	s.fails.Store(old.fails.Load())
	s.total.Store(old.total.Load())
	s.bytesIn.Store(old.bytesIn.Load())
	s.bytesOut.Store(old.bytesOut.Load())
	s.mu.Unlock()
}
