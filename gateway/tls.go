package gateway

// TLS termination on the event loops. A connection accepted on -tls-listen
// gets a tlsConn (tlsconn.go) as its conn.c: the state machine (conn.go,
// wsguard.go, fanout.go, the proxy adapters) keeps calling cs.c.Peek,
// Discard, Write... and sees plaintext, while the socket carries records of
// gateway/internal/tlsx, whose package doc says why it is a record layer of
// our own over crypto/tls's handshake (idle connections hold no TLS buffer).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/gateway/admin"
	"github.com/wsgate/wsgate/gateway/internal/tlsx"
	"github.com/wsgate/wsgate/gateway/tlscert"
)

// tlsSide is what the TLS listener shares between its connections.
type tlsSide struct {
	store   *tlscert.Store
	srv     *tlsx.Server
	metrics *tlsMetrics
	ip      netip.Addr // the listener's address; unspecified: any
	port    uint16
	open    atomic.Int64 // connections open on the listener, for the stats page
}

// tlsStats is the TLS listener for the stats page (nil without one).
func (g *Gateway) tlsStats() *admin.TLSStats {
	if g.tls == nil {
		return nil
	}
	return &admin.TLSStats{Listen: g.cfg.TLS.Listen, Connections: g.tls.open.Load(), Certs: g.tls.store.Certs()}
}

// newTLSSide loads the certificates and prepares the record engine; nil
// without -tls-listen.
func newTLSSide(o tlscert.Options, reg prometheus.Registerer) (*tlsSide, error) {
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
	return &tlsSide{store: store, srv: srv, metrics: newTLSMetrics(reg, store.Certs), ip: ap.Addr(), port: ap.Port()}, nil
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

// accepts reports whether c came in through the TLS listener. gnet.Rotate
// serves both listeners from the same loops and does not say which one a
// connection came from, but a connection's LocalAddr is its listener's
// address (gnet's acceptor sets it so), which tells them apart even on one
// port (-listen 127.0.0.1:443, -tls-listen 10.0.0.1:443).
func (t *tlsSide) accepts(c gnet.Conn) bool { return t.isListener(c.LocalAddr()) }

func (t *tlsSide) isListener(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok || uint16(ta.Port) != t.port {
		return false
	}
	ip := netip.IPv4Unspecified()
	if len(ta.IP) > 0 {
		ip, _ = netip.AddrFromSlice(ta.IP)
	}
	if ip = ip.Unmap(); t.ip.IsUnspecified() || ip.IsUnspecified() {
		return t.ip.IsUnspecified() && ip.IsUnspecified()
	}
	return ip == t.ip
}

// listenAddrs are the gnet addresses of the client listeners (-listen "":
// TLS only).
func (g *Gateway) listenAddrs() []string {
	var addrs []string
	if g.cfg.Listen != "" {
		addrs = append(addrs, "tcp://"+g.cfg.Listen)
	}
	if g.tls != nil {
		addrs = append(addrs, "tcp://"+g.cfg.TLS.Listen)
	}
	return addrs
}

// rotateTicketKeys rotates the session ticket keys until ctx ends (the
// store makes a new key every tlscert.TicketKeyInterval; checking each
// minute is plenty).
func (t *tlsSide) rotateTicketKeys(ctx context.Context) {
	tk := time.NewTicker(time.Minute)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tk.C:
			t.store.RotateTicketKeys(now)
		}
	}
}

// reloadTLS re-reads the certificate files on SIGHUP (Gateway.Reload):
// handshakes that start afterwards get the new certificates, connections
// keep theirs. A bad file keeps the current set.
func (g *Gateway) reloadTLS(cfg *Config) error {
	if g.tls == nil {
		return nil
	}
	if err := g.tls.store.Reload(cfg.TLS.Certs); err != nil {
		return fmt.Errorf("tls certificates not reloaded, keeping the current ones: %w", err)
	}
	for _, w := range g.tls.store.Warnings() {
		g.log.Warn("tls certificate", "warning", w)
	}
	g.log.Info("tls certificates reloaded", "pairs", len(g.tls.store.Certs()))
	return nil
}

// handshakeFailure sorts a failed handshake into a metric reason (a bounded
// label set, so the strings of crypto/tls's errors are matched here).
func handshakeFailure(err error) string {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		if looksLikeHTTP(rh.RecordHeader[:]) {
			return "http"
		}
		return "not_tls"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return "remote_alert"
	}
	switch s := err.Error(); {
	case strings.Contains(s, "version"):
		return "version"
	case strings.Contains(s, "cipher"):
		return "cipher"
	case strings.Contains(s, "application protocol"):
		return "alpn"
	default:
		return "other"
	}
}

// looksLikeHTTP reports whether the first bytes of a connection are an HTTP
// method, as net/http's server checks before it answers 400.
func looksLikeHTTP(hdr []byte) bool {
	for _, m := range []string{"GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE"} {
		if string(hdr) == m {
			return true
		}
	}
	return false
}

// plainAlert finds an unencrypted fatal alert record among the records of p
// (what crypto/tls sends when it refuses a ClientHello) and returns its
// description.
func plainAlert(p []byte) (uint8, bool) {
	for len(p) >= 5 {
		n := int(p[3])<<8 | int(p[4])
		if len(p) < 5+n {
			return 0, false
		}
		if p[0] == 21 && n == 2 && p[5] == 2 { // alert, level fatal
			return p[6], true
		}
		p = p[5+n:]
	}
	return 0, false
}

// alertReason names a failed handshake by the alert we sent, in the
// vocabulary of handshakeFailure.
func alertReason(code uint8) string {
	switch code {
	case 70: // protocol_version
		return "version"
	case 40, 71: // handshake_failure (no common suite, group or signature), insufficient_security
		return "cipher"
	case 120: // no_application_protocol
		return "alpn"
	default:
		return "other"
	}
}
