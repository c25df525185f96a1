// Package gateway owns the sockets: a gnet reactor whose event loops run every
// connection's state machine (handshake → websocket → closing), the timing
// wheels, broadcast delivery and the admin listener. Bytes are parsed by codec
// and routing is decided by router; this package only moves them.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/access"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/gateway/admin"
	"github.com/wsgate/wsgate/gateway/grip"
	"github.com/wsgate/wsgate/gateway/internal/gnetx"
	"github.com/wsgate/wsgate/gateway/internal/limits"
	"github.com/wsgate/wsgate/gateway/tlsside"
	"github.com/wsgate/wsgate/pool"
	"github.com/wsgate/wsgate/router"
)

// Gateway is one wsgate node's client side.
type Gateway struct {
	gnet.BuiltinEventEngine

	cfg      Config
	log      *slog.Logger
	router   *router.Router // routes, pools, health checks; Reload swaps what it decides with
	auth     *access.Access // access control: JWT, auth=request, per-user counts (auth.go)
	bus      router.Bus
	metrics  *metrics
	grip     *grip.Metrics // GRIP sessions (gateway/grip)
	gatherer prometheus.Gatherer
	upgrade  codec.UpgradeOptions
	resume   *v1Node // wsgate.v1 and the message history (resume.go)
	page     []byte  // the complete 200 response of the demo page
	frames   pool.Pool

	loopsMu  sync.Mutex
	loops    atomic.Pointer[[]*loop]
	subs     atomic.Int64 // topic subscriptions, for metrics
	open     atomic.Int64 // client connections
	limits   *ipLimits    // nil without per-IP limits
	draining atomic.Bool

	start  time.Time
	booted chan struct{}
	engine gnet.Engine

	epolls  gnetx.Finder          // each event loop's poller, for pausing reads (pause.go)
	noPause error                 // why reads cannot be paused on this platform (off Linux); nil on Linux
	fatal   atomic.Pointer[error] // set when an event loop cannot work as it must: Run returns it

	handshakeTicks, pingTicks, idleTicks uint32
	guard                                wsGuard // WebSocket-path hardening state (wsguard.go)

	alog *accesslog.Logger // access log (accesslog.go); nil when off
	clog *accesslog.Conns  // its lines of connections the gateway serves itself; nil when off
	ids  *accesslog.IDs    // request IDs; nil when disabled
	tls  *tlsside.Side     // nil without -tls-listen (tls.go)
}

// NewBus builds the bus with the gateway's delivery function as its handler.
type NewBus func(router.BusHandler) (router.Bus, error)

// New builds a gateway. reg receives its metrics and serves /metrics.
func New(cfg Config, newBus NewBus, log *slog.Logger, reg *prometheus.Registry) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	rt, err := router.New(cfg.Routing, log)
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	g := &Gateway{
		cfg:      cfg,
		log:      log,
		gatherer: reg,
		upgrade: codec.UpgradeOptions{
			Subprotocols: cfg.Subprotocols,
			Compression:  cfg.Compression,
			// No Origins: the handshake checks every upgrade's Origin, with
			// the route's origins= override (origin.go).
		},
		start:          time.Now(),
		booted:         make(chan struct{}),
		handshakeTicks: ticks(cfg.HandshakeTimeout),
		pingTicks:      ticks(cfg.PingInterval),
		idleTicks:      ticks(cfg.IdleTimeout),
		guard:          wsGuard{msgTicks: ticks(cfg.MessageTimeout)},
	}
	g.router = rt
	g.epolls.EdgeTriggered = edgeTriggered
	if err := gnetx.Check(); errors.Is(err, gnetx.ErrUnsupported) {
		g.noPause = err // announced by Run
	} else if err != nil {
		// Without pausing reads a tunnel's backpressure is silently lost: refuse to start.
		return nil, fmt.Errorf("backpressure: %w", err)
	}
	g.limits = limits.New(cfg.MaxConnsPerIP, cfg.ConnRatePerIP)
	g.loops.Store(&[]*loop{})
	g.metrics = newMetrics(reg, func() float64 { return float64(g.subs.Load()) })
	g.grip = grip.NewMetrics(reg)
	if g.auth, err = access.New(access.Options{JWT: cfg.JWT, Timeout: cfg.AuthTimeout, Router: rt, Registry: reg, Log: log}); err != nil {
		return nil, fmt.Errorf("access control: %w", err)
	}
	reg.MustRegister(admin.NewServerCollector(func() []router.PoolStats { return g.router.Current().PoolStats() }))
	g.page = appendPage(nil, false)
	if g.ids, err = accesslog.NewIDs(cfg.AccessLog); err != nil {
		return nil, err
	}
	if g.alog, err = accesslog.New(cfg.AccessLog, reg, log); err != nil {
		return nil, err
	}
	g.clog = newConnsLog(g.alog, g.ids)
	if g.tls, err = tlsside.New(cfg.TLS, reg, g.metrics, log); err != nil {
		_ = g.alog.Close()
		return nil, err
	}
	g.resume = newResume(&cfg, g.upgrade, reg)
	if g.bus, err = newBus(g.deliver); err != nil {
		_ = g.alog.Close()
		return nil, fmt.Errorf("bus: %w", err)
	}
	g.resume.SetBus(g.bus, reg)
	return g, nil
}

// edgeTriggered is gnet's WithEdgeTriggeredIO: gnetx must know it to keep
// gnet's own flags when it pauses reading a connection.
const edgeTriggered = false

func ticks(d time.Duration) uint32 { return uint32((d + tick - 1) / tick) }

// now is the current tick of the timing wheels.
func (g *Gateway) now() uint32 { return uint32(time.Since(g.start) / tick) }

// Run serves until ctx is cancelled or the engine fails.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.alog.Close() // once the event loops have stopped: every line is written
	var admin *http.Server
	if g.cfg.AdminListen != "" {
		ln, err := net.Listen("tcp", g.cfg.AdminListen)
		if err != nil {
			return fmt.Errorf("admin listener %s: %w", g.cfg.AdminListen, err)
		}
		admin = &http.Server{Handler: g.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.log.Error("admin listener failed", "err", err)
			}
		}()
		defer admin.Close()
		g.log.Info("admin listener", "addr", ln.Addr().String())
	}
	if g.noPause != nil {
		g.log.Warn("backpressure on proxied connections is off on this platform: a side that outruns its peer is not paused, its bytes are buffered in memory", "reason", g.noPause)
	}

	stopped := make(chan struct{})
	defer close(stopped)
	runCtx, stopChecks := context.WithCancel(context.Background())
	defer stopChecks()
	g.router.Start(runCtx)
	g.auth.Run(runCtx)
	go g.resume.Run(runCtx)
	if g.tls != nil {
		go g.tls.RotateTicketKeys(runCtx)
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
			return
		}
		select {
		case <-g.booted:
			dctx, cancelDrain := context.WithTimeout(context.Background(), g.cfg.DrainTime+2*time.Second)
			g.Drain(dctx, g.cfg.DrainTime)
			cancelDrain()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := g.engine.Stop(sctx); err != nil {
				g.log.Warn("engine stop", "err", err)
			}
		case <-stopped:
		}
	}()

	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithTicker(true),
		gnet.WithReusePort(g.cfg.ReusePort),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithEdgeTriggeredIO(edgeTriggered),
		gnet.WithLogger(gnetLogger{g.log}),
	}
	if g.cfg.EventLoops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(g.cfg.EventLoops))
	}
	err := gnet.Rotate(g, g.listenAddrs(), opts...) // -listen and -tls-listen
	_ = g.bus.Close()
	if err != nil {
		return fmt.Errorf("listeners %q: %w", g.listenAddrs(), err)
	}
	if p := g.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// OnBoot records the engine so Run can stop it.
func (g *Gateway) OnBoot(eng gnet.Engine) gnet.Action {
	g.engine = eng
	close(g.booted)
	g.log.Info("listening", "addr", g.cfg.Listen, "tls_addr", g.cfg.TLS.Listen, "routes", len(g.router.Current().Routes()))
	return gnet.None
}

// OnOpen sets up a connection's state. It costs one small struct and no buffer.
func (g *Gateway) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if up, ok := c.Context().(*conn); ok && up.upstream {
		up.c = c
		return nil, up.loop.upstreamOpen(up)
	}
	if g.draining.Load() {
		g.logRefused(c, 0, accesslog.TermDrain, "draining")
		return nil, gnet.Close // stopping: a balancer in front retries elsewhere
	}
	isTLS := g.tls.Accepts(c)
	if reason := g.admit(c); reason != "" {
		g.logRefused(c, http.StatusServiceUnavailable, accesslog.TermRefused, reason)
		g.metrics.Refused.WithLabelValues(reason).Inc()
		if isTLS {
			return nil, gnet.Close // a TLS client would not read a plain answer
		}
		g.metrics.HTTPResponse(http.StatusServiceUnavailable)
		g.log.Debug("connection refused", "remote", c.RemoteAddr(), "limit", reason)
		// Written before the client sent anything: HTTP clients read it as the answer.
		return codec.AppendError(nil, http.StatusServiceUnavailable, "connection limit reached ("+reason+")"), gnet.Close
	}
	l, err := g.loopOf(c)
	if err != nil {
		// The engine stops at the loop's first connection: Run returns err.
		g.fatal.CompareAndSwap(nil, &err)
		g.log.Error("stopping", "err", err)
		return nil, gnet.Shutdown
	}
	g.open.Add(1)
	cs := &conn{c: c, loop: l, lastSeen: l.wheel.now, groupIdx: -1}
	if g.alog != nil {
		cs.alog = g.clog.Open()
	}
	c.SetContext(cs)
	if isTLS {
		cs.c = l.tls.Open(c)
	}
	l.clients.Add(cs)
	l.wheel.schedule(cs, l.wheel.now+g.handshakeTicks)
	g.metrics.ConnsOpen.Inc()
	g.metrics.ConnsTotal.Inc()
	return nil, gnet.None
}

// OnClose forgets a connection.
func (g *Gateway) OnClose(c gnet.Conn, _ error) gnet.Action {
	cs, ok := c.Context().(*conn)
	if !ok {
		return gnet.None
	}
	l := cs.loop
	if cs.upstream {
		cs.state = stateClosed
		l.serverClosed(cs)
		return gnet.None
	}
	if g.limits != nil {
		g.limits.Release(clientIP(c.RemoteAddr()))
	}
	l.closeWS(cs, accesslog.TermClientClosed, accesslog.SideClient, 0, "") // FIN or reset while open
	if cs.state == stateHandshake && cs.alog != nil && c.InboundBuffered() > 0 {
		l.logAnswered(cs, nil, "", 0, accesslog.TermClientClosed, "closed during the request head", 0)
	}
	l.wheel.remove(cs)
	l.clients.Remove(cs)
	l.leave(cs)
	l.endSession(cs)
	l.parser.Release(&cs.dec)
	g.auth.Release(&cs.user)
	if t, ok := cs.c.(*tlsside.Conn); ok {
		t.Closed(l.wheel.now-cs.lastSeen >= g.handshakeTicks)
	}
	cs.state = stateClosed
	g.open.Add(-1)
	g.metrics.ConnsOpen.Dec()
	return gnet.None
}

// OnTraffic runs the connection's state machine over what has arrived.
func (g *Gateway) OnTraffic(c gnet.Conn) gnet.Action {
	cs := c.Context().(*conn)
	if t, ok := cs.c.(*tlsside.Conn); ok {
		t.Traffic()
		return gnet.None
	}
	cs.loop.traffic(cs)
	return gnet.None
}

// OnTick advances every loop's timing wheel on the loop itself.
func (g *Gateway) OnTick() (time.Duration, gnet.Action) {
	for _, l := range *g.loops.Load() {
		if err := l.el.Execute(context.Background(), l.tickTask); err != nil {
			return tick, gnet.None // engine shutting down
		}
	}
	return tick, gnet.None
}

// admit applies -max-conns and the per-IP limits to a new connection.
func (g *Gateway) admit(c gnet.Conn) (reason string) {
	if g.cfg.MaxConns > 0 && g.open.Load() >= int64(g.cfg.MaxConns) {
		return "max-conns"
	}
	if g.limits != nil {
		return g.limits.Admit(clientIP(c.RemoteAddr()), time.Now())
	}
	return ""
}

// loopOf returns the state of c's event loop, creating it on the loop's first
// connection (gnet gives no other hook on a loop's goroutine): that is when
// the loop's epoll instance is found, once, from c.
func (g *Gateway) loopOf(c gnet.Conn) (*loop, error) {
	el := c.EventLoop()
	for _, l := range *g.loops.Load() {
		if l.el == el {
			return l, nil
		}
	}
	g.loopsMu.Lock()
	defer g.loopsMu.Unlock()
	old := *g.loops.Load()
	for _, l := range old {
		if l.el == el {
			return l, nil
		}
	}
	l := newLoop(g, el)
	p, err := g.epolls.Find(c)
	if err != nil && !errors.Is(err, gnetx.ErrUnsupported) {
		return nil, fmt.Errorf("backpressure: %w", err)
	}
	l.poller = p
	next := append(append(make([]*loop, 0, len(old)+1), old...), l)
	g.loops.Store(&next)
	return l, nil
}

// gnetLogger sends gnet's own log lines to slog.
type gnetLogger struct{ log *slog.Logger }

func (l gnetLogger) Debugf(f string, a ...any) { l.log.Debug(fmt.Sprintf(f, a...), "src", "gnet") }
func (l gnetLogger) Infof(f string, a ...any)  { l.log.Info(fmt.Sprintf(f, a...), "src", "gnet") }
func (l gnetLogger) Warnf(f string, a ...any)  { l.log.Warn(fmt.Sprintf(f, a...), "src", "gnet") }
func (l gnetLogger) Errorf(f string, a ...any) { l.log.Error(fmt.Sprintf(f, a...), "src", "gnet") }
func (l gnetLogger) Fatalf(f string, a ...any) { l.log.Error(fmt.Sprintf(f, a...), "src", "gnet") }
