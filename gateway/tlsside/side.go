// Package tlsside is the gateway's TLS listener on the event loops. It tells
// which accepted connections came in through -tls-listen, gives each one a
// Conn that the connection state machine (package gateway) reads and writes
// as if it were the socket, and owns what the listener's connections share:
// the certificate store (reload, ticket-key rotation), the record engine,
// the per-loop scratch and plaintext buffers, the handshake metrics and the
// stats page's figures.
//
// The boundary: gateway/internal/tlsx is the record engine (ciphertext in,
// plaintext out; no gnet, no metrics, no policy) and gateway/tlscert the
// certificate files and options. This package binds them to gnet and to the
// gateway's observability, and decides what a TLS event means for the
// connection: a handshake failure's reason, the plain 400 to an HTTP request
// sent to the TLS port, when the cipher cache can be dropped. The gateway
// keeps its connection state machine and sees TLS only through Host, three
// calls back into its loop: run the state machine over the plaintext, note
// that a handshake ended, end a connection.
package tlsside

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/gateway/admin"
	gwmetrics "github.com/wsgate/wsgate/gateway/internal/metrics"
	"github.com/wsgate/wsgate/gateway/internal/tlsx"
	"github.com/wsgate/wsgate/gateway/tlscert"
)

// Side is the TLS listener: what its connections share. A nil *Side (no
// -tls-listen) accepts nothing, reloads nothing and has no stats.
type Side struct {
	store     *tlscert.Store
	srv       *tlsx.Server
	metrics   *metrics
	responses *gwmetrics.Set // the gateway's figures: the 400 to plain HTTP is one of its responses
	log       *slog.Logger
	start     time.Time // handshake durations are measured from here (monotonic)
	listen    string    // -tls-listen, for the stats page
	ip        netip.Addr
	port      uint16
	open      atomic.Int64 // connections open on the listener, for the stats page
}

// New loads the certificates and prepares the record engine; nil without
// -tls-listen. reg receives the TLS metrics; responses counts the plain
// HTTP answers the listener writes.
func New(o tlscert.Options, reg prometheus.Registerer, responses *gwmetrics.Set, log *slog.Logger) (*Side, error) {
	if !o.Enabled() {
		return nil, nil
	}
	ap, err := listenAddr(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("-tls-listen: %w", err)
	}
	store, err := tlscert.New(o)
	if err != nil {
		return nil, fmt.Errorf("tls certificates: %w", err)
	}
	srv, err := tlsx.NewServer(store.Config())
	if err != nil {
		return nil, fmt.Errorf("tls engine: %w", err)
	}
	store.FollowTicketKeys(srv.SetSessionTicketKeys) // srv cloned the config: rotations must reach it
	return &Side{store: store, srv: srv, metrics: newMetrics(reg, store.Certs), responses: responses, log: log,
		start: time.Now(), listen: o.Listen, ip: ap.Addr(), port: ap.Port()}, nil
}

// listenAddr resolves a [HOST]:PORT listener address as gnet does
// (net.ResolveTCPAddr); no host means the unspecified address.
func listenAddr(s string) (netip.AddrPort, error) {
	ta, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %w", s, err)
	}
	ip := netip.IPv4Unspecified()
	if len(ta.IP) > 0 {
		ip, _ = netip.AddrFromSlice(ta.IP)
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(ta.Port)), nil
}

// Accepts reports whether c came in through the TLS listener. gnet.Rotate
// serves both listeners from the same loops and does not say which one a
// connection came from, but a connection's LocalAddr is its listener's
// address (gnet's acceptor sets it so), which tells them apart even on one
// port (-listen 127.0.0.1:443, -tls-listen 10.0.0.1:443).
func (s *Side) Accepts(c gnet.Conn) bool { return s != nil && s.isListener(c.LocalAddr()) }

func (s *Side) isListener(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok || uint16(ta.Port) != s.port {
		return false
	}
	ip := netip.IPv4Unspecified()
	if len(ta.IP) > 0 {
		ip, _ = netip.AddrFromSlice(ta.IP)
	}
	if ip = ip.Unmap(); s.ip.IsUnspecified() || ip.IsUnspecified() {
		return s.ip.IsUnspecified() && ip.IsUnspecified()
	}
	return ip == s.ip
}

// RotateTicketKeys rotates the session ticket keys until ctx ends (the
// store makes a new key every tlscert.TicketKeyInterval; checking each
// minute is plenty).
func (s *Side) RotateTicketKeys(ctx context.Context) {
	tk := time.NewTicker(time.Minute)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tk.C:
			s.store.RotateTicketKeys(now)
		}
	}
}

// Reload re-reads the certificate files (SIGHUP): handshakes that start
// afterwards get the new certificates, connections keep theirs. A bad file
// keeps the current set.
func (s *Side) Reload(certs []string) error {
	if s == nil {
		return nil
	}
	if err := s.store.Reload(certs); err != nil {
		return fmt.Errorf("tls certificates not reloaded, keeping the current ones: %w", err)
	}
	for _, w := range s.store.Warnings() {
		s.log.Warn("tls certificate", "warning", w)
	}
	s.log.Info("tls certificates reloaded", "pairs", len(s.store.Certs()))
	return nil
}

// Stats is the listener for the stats page (nil without one).
func (s *Side) Stats() *admin.TLSStats {
	if s == nil {
		return nil
	}
	return &admin.TLSStats{Listen: s.listen, Connections: s.open.Load(), Certs: s.store.Certs()}
}
