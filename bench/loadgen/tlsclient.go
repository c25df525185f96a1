package loadgen

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// TLS mode (-tls, or a wss:// URL). The epoll loops keep speaking plain
// WebSocket; each connection's socket is one end of a socketpair whose other
// end a goroutine bridges to a crypto/tls client connection to the server
// (tlsbridge_linux.go). The issue lets the generator speak TLS with "its own
// epoll loop or goroutines; its memory does not count": goroutines keep every
// scenario's code as it is. Cost: three fds per connection in this process
// (Validate divides the limit by three) and the generator's CPU, which no
// figure counts (gateway CPU comes from /proc of the gateway's PIDs).

// TLSOptions are the generator's TLS client settings.
type TLSOptions struct {
	Enabled    bool
	CAFile     string // PEM CA the server's chain must verify against
	Insecure   bool   // skip verification (throwaway certificates)
	ServerName string // SNI and verification name; default: the URL's host
	// Resume shares one tls.ClientSessionCache between the connections, so
	// every connection after the first ticket resumes (TLS 1.3 PSK).
	Resume bool
}

// TLSStats are the client side's handshake counts of a run.
type TLSStats struct {
	Handshakes int64  `json:"handshakes"` // completed, full or resumed
	Resumed    int64  `json:"resumed"`
	Failed     int64  `json:"failed"`
	Version    string `json:"version,omitempty"` // of the last completed handshake
	Cipher     string `json:"cipher,omitempty"`
	Resume     bool   `json:"resume_asked"`
}

// fdsPerConn is how many fds one connection holds in this process.
func (o *TLSOptions) fdsPerConn() int {
	if o.Enabled {
		return 3 // the loop's end, the bridge's end, the TCP socket
	}
	return 1
}

// tlsCounters are written by the bridge goroutines.
type tlsCounters struct {
	handshakes, resumed, failed atomic.Int64
	version, cipher             atomic.Uint32
}

func (c *tlsCounters) stats(resume bool) *TLSStats {
	s := &TLSStats{Handshakes: c.handshakes.Load(), Resumed: c.resumed.Load(), Failed: c.failed.Load(), Resume: resume}
	if v := c.version.Load(); v != 0 {
		s.Version = tls.VersionName(uint16(v))
		s.Cipher = tls.CipherSuiteName(uint16(c.cipher.Load()))
	}
	return s
}

// clientConfig builds the tls.Config every connection of the run shares.
func (o *TLSOptions) clientConfig(host string) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.Insecure, //nolint:gosec // -tls-insecure: throwaway bench certificates only
		NextProtos:         []string{"http/1.1"},
		MinVersion:         tls.VersionTLS12,
		// The same key exchange for every server compared: HAProxy 2.6 on
		// OpenSSL 3.0 has no X25519MLKEM768, which Go offers first by default.
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls-ca %s: no PEM certificate", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if o.Resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}
	return cfg, nil
}

// tlsDialer opens the TLS side of TLS-mode connections (its bridge is Linux-only: tlsbridge_linux.go).
type tlsDialer struct {
	cfg     *tls.Config
	addr    string
	timeout time.Duration
	counts  tlsCounters
}
