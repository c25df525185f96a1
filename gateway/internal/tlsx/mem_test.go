package tlsx

import (
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"testing"
)

// heapInuse returns HeapInuse after a full collection.
func heapInuse() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// clientRound does a client handshake over cc and one 1-byte echo.
func clientRound(t testing.TB, cc net.Conn, ccfg *tls.Config) {
	tc := tls.Client(cc, ccfg)
	must(t, tc.Handshake())
	go func() { _, _ = tc.Write([]byte("x")) }()
	_, err := io.ReadFull(tc, make([]byte, 1))
	must(t, err)
}

// detachConn lets a crypto/tls server Conn outlive its pipe: after the
// handshake the pipe is dropped, as an event-loop adapter would hold nothing.
type detachConn struct{ net.Conn }

// TestIdleMemory reports heap bytes per idle server connection after a
// handshake and one echo: this package (with and without Release) and plain
// crypto/tls (option a), for TLS 1.2 and 1.3.
func TestIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 handshakes per variant")
	}
	const n = 5000
	pki := newPKI(t)
	srv, err := NewServer(pki.serverConfig())
	must(t, err)
	stdCfg := pki.serverConfig()
	stdCfg.MinVersion = tls.VersionTLS12
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		ccfg := pki.clientConfig()
		ccfg.MaxVersion = v
		keep := make([]any, n)

		before := heapInuse()
		for i := range keep {
			cc, sc := net.Pipe()
			resc := make(chan serveResult, 1)
			go func() { resc <- serve(srv, sc, 0, true) }()
			clientRound(t, cc, ccfg)
			res := <-resc
			cc.Close()
			sc.Close()
			keep[i] = res.conn
		}
		held := heapInuse()
		for _, c := range keep {
			c.(*Conn).Release()
		}
		released := heapInuse()
		t.Logf("%s tlsx: %.0f B/conn holding AEADs, %.0f B/conn after Release",
			tls.VersionName(v), perConn(before, held, n), perConn(before, released, n))
		if got := perConn(before, released, n); got > 1024 {
			t.Errorf("%s: %.0f B per idle released Conn, want <= 1 KB", tls.VersionName(v), got)
		}
		clear(keep)

		before = heapInuse()
		for i := range keep {
			cc, sc := net.Pipe()
			d := &detachConn{sc}
			sconn := tls.Server(d, stdCfg)
			done := make(chan error, 1)
			go func() {
				b := make([]byte, 1)
				_, err := io.ReadFull(sconn, b)
				if err == nil {
					_, err = sconn.Write(b)
				}
				done <- err
			}()
			clientRound(t, cc, ccfg)
			must(t, <-done)
			cc.Close()
			sc.Close()
			d.Conn = nil
			keep[i] = sconn
		}
		t.Logf("%s crypto/tls: %.0f B/conn", tls.VersionName(v), perConn(before, heapInuse(), n))
		clear(keep)
	}
}

func perConn(before, after uint64, n int) float64 {
	return (float64(after) - float64(before)) / float64(n)
}

// BenchmarkHandshake: a full ECDSA P-256 handshake plus one echo, client
// and server together, through this package and through plain crypto/tls
// (the difference is the engine's overhead: goroutine, adapter, key setup).
func BenchmarkHandshake(b *testing.B) {
	pki := newPKI(b)
	srv, err := NewServer(pki.serverConfig())
	must(b, err)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		ccfg := pki.clientConfig()
		ccfg.MaxVersion = v
		b.Run(tls.VersionName(v)+"/tlsx", func(b *testing.B) {
			for b.Loop() {
				cc, sc := net.Pipe()
				resc := make(chan serveResult, 1)
				go func() { resc <- serve(srv, sc, 0, true) }()
				clientRound(b, cc, ccfg)
				<-resc
				cc.Close()
				sc.Close()
			}
		})
		b.Run(tls.VersionName(v)+"/crypto-tls", func(b *testing.B) {
			for b.Loop() {
				cc, sc := net.Pipe()
				done := make(chan error, 1)
				go func() {
					s := tls.Server(sc, pki.serverConfig())
					buf := make([]byte, 1)
					_, err := io.ReadFull(s, buf)
					if err == nil {
						_, err = s.Write(buf)
					}
					done <- err
				}()
				clientRound(b, cc, ccfg)
				must(b, <-done)
				cc.Close()
				sc.Close()
			}
		})
	}
}
