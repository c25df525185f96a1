package tlsx

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"testing"
)

// allSuites lists every (version, suite) the record layer implements.
var allSuites = []struct{ vers, suite uint16 }{
	{tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256},
	{tls.VersionTLS13, tls.TLS_AES_256_GCM_SHA384},
	{tls.VersionTLS13, tls.TLS_CHACHA20_POLY1305_SHA256},
	{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	{tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
	{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
}

// pair returns an open server Conn and its mirror (the client's record
// layer, as a Conn with the directions swapped), keyed from seeded secrets.
func pair(tb testing.TB, vers, suite uint16, seed byte) (srv, cli *Conn) {
	s, ok := lookupSuite(suite)
	if !ok {
		tb.Fatalf("suite %x", suite)
	}
	srv = &Conn{state: stateOpen, vers: vers, suiteID: suite, suite: s}
	cli = &Conn{state: stateOpen, vers: vers, suiteID: suite, suite: s}
	secret := func(b byte) []byte { return bytes.Repeat([]byte{b}, 48) }
	if vers == tls.VersionTLS13 {
		srv.in.setSecret13(s, secret(seed)[:s.hashLen()])
		srv.out.setSecret13(s, secret(seed + 1)[:s.hashLen()])
		cli.out.setSecret13(s, secret(seed)[:s.hashLen()])
		cli.in.setSecret13(s, secret(seed + 1)[:s.hashLen()])
	} else {
		keys12(s, secret(seed), secret(seed + 2)[:32], secret(seed + 3)[:32], &srv.in, &srv.out)
		keys12(s, secret(seed), secret(seed + 2)[:32], secret(seed + 3)[:32], &cli.out, &cli.in)
	}
	return srv, cli
}

func TestRecordLayerDirect(t *testing.T) {
	for _, tc := range allSuites {
		t.Run(fmt.Sprintf("%s/%s", tls.VersionName(tc.vers), tls.CipherSuiteName(tc.suite)), func(t *testing.T) {
			srv, cli := pair(t, tc.vers, tc.suite, 7)
			// Data both ways, records fed whole and one byte at a time.
			for _, n := range []int{0, 1, 1000, maxPlaintext, 3*maxPlaintext + 5} {
				msg := make([]byte, n)
				_, _ = rand.Read(msg)
				wire, err := cli.Seal(nil, msg)
				must(t, err)
				var got []byte
				if n < 2000 {
					for i := range wire {
						if got, _, err = srv.Feed(got, wire[i:i+1]); err != nil {
							t.Fatal(err)
						}
					}
				} else if got, _, err = srv.Feed(nil, wire); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, msg) || srv.pending != nil {
					t.Fatalf("%d bytes: got %d, pending %d", n, len(got), len(srv.pending))
				}
				srv.Release() // next record rebuilds the AEAD
				back, err := srv.Seal(nil, msg)
				must(t, err)
				if got, _, err = cli.Feed(nil, back); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("server to client %d bytes: %v", n, err)
				}
			}
			// An empty application-data record is legal.
			empty, err := cli.seal(nil, typeApplicationData, nil)
			must(t, err)
			if got, out, err := srv.Feed(nil, empty); err != nil || len(got)+len(out) != 0 {
				t.Fatalf("empty record: %v", err)
			}
			// close_notify: io.EOF and one in return.
			bye := cli.Close(nil)
			_, out, err := srv.Feed(nil, bye)
			if err != io.EOF || len(out) == 0 {
				t.Fatalf("close_notify: %v, out %d", err, len(out))
			}
		})
	}
}

// refused checks that a record cli builds makes srv fail with alert.
func refused(t *testing.T, vers, suite uint16, alert uint8, build func(cli *Conn) []byte) {
	t.Helper()
	srv, cli := pair(t, vers, suite, 1)
	_, out, err := srv.Feed(nil, build(cli))
	var ae *AlertError
	if !errors.As(err, &ae) || ae.Remote || ae.Alert != alert || len(out) == 0 {
		t.Fatalf("%s: want local alert %d, got %v (out %d)", tls.VersionName(vers), alert, err, len(out))
	}
	// The alert we send is a protected fatal alert the client can read.
	_, _, err = cli.Feed(nil, out)
	if !errors.As(err, &ae) || !ae.Remote || ae.Alert != alert {
		t.Fatalf("client read of our alert: %v", err)
	}
}

func TestRecordLayerRefusals(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		suite := uint16(tls.TLS_AES_128_GCM_SHA256)
		if v == tls.VersionTLS12 {
			suite = tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
		}
		seal := func(typ uint8, p []byte) func(*Conn) []byte {
			return func(cli *Conn) []byte { b, _ := cli.seal(nil, typ, p); return b }
		}
		// Plaintext over 2^14 inside a record of acceptable size.
		refused(t, v, suite, alertRecordOverflow, seal(typeApplicationData, make([]byte, maxPlaintext+1)))
		// Ciphertext length over the limit, decided from the header alone.
		refused(t, v, suite, alertRecordOverflow, func(*Conn) []byte { return []byte{23, 3, 3, 0x49, 0} })
		refused(t, v, suite, alertUnexpectedMessage, func(*Conn) []byte { return []byte{20, 3, 3, 0, 1, 1} })
		refused(t, v, suite, alertBadRecordMAC, func(*Conn) []byte { return []byte{23, 3, 3, 0, 3, 1, 2, 3} })
		refused(t, v, suite, alertDecodeError, seal(typeAlert, []byte{2, 40, 0}))
		if v == tls.VersionTLS13 {
			refused(t, v, suite, alertUnexpectedMessage, seal(typeHandshake, []byte{4, 0, 0, 0})) // NewSessionTicket
			refused(t, v, suite, alertUnexpectedMessage, seal(typeHandshake, []byte{24, 0}))      // split message
			refused(t, v, suite, 47, seal(typeHandshake, []byte{24, 0, 0, 1, 2}))                 // illegal KeyUpdate
			refused(t, v, suite, alertUnexpectedMessage, seal(99, []byte("x")))
		} else {
			refused(t, v, suite, alertNoRenegotiation, seal(typeHandshake, []byte{1, 0, 0, 0})) // ClientHello
		}
		// A fatal alert from the peer ends the connection, reported as remote.
		srv, cli := pair(t, v, suite, 3)
		b, _ := cli.seal(nil, typeAlert, []byte{alertLevelFatal, 40})
		var ae *AlertError
		if _, out, err := srv.Feed(nil, b); !errors.As(err, &ae) || !ae.Remote || len(out) != 0 {
			t.Fatalf("peer alert: %v", err)
		}
		if v == tls.VersionTLS12 { // warning alerts other than close_notify are ignored in 1.2
			srv, cli = pair(t, v, suite, 5)
			b, _ = cli.seal(nil, typeAlert, []byte{alertLevelWarning, alertNoRenegotiation})
			d, _ := cli.Seal(b, []byte("after"))
			if got, _, err := srv.Feed(nil, d); err != nil || string(got) != "after" {
				t.Fatalf("warning alert: %q %v", got, err)
			}
		}
	}
}

// FuzzFeed: arbitrary input after the handshake never panics and, once
// refused, stays refused.
func FuzzFeed(f *testing.F) {
	_, cli := pair(f, tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256, 9)
	good, _ := cli.Seal(nil, []byte("hello"))
	f.Add(good, uint8(0))
	f.Add([]byte{23, 3, 3, 0, 0}, uint8(1))
	f.Add([]byte{21, 3, 3, 0, 2, 1, 0}, uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, which uint8) {
		s := allSuites[int(which)%len(allSuites)]
		srv, _ := pair(t, s.vers, s.suite, 9)
		_, _, err := srv.Feed(nil, in)
		if err != nil {
			if _, _, err2 := srv.Feed(nil, good); err2 == nil {
				t.Fatal("Feed succeeded after an error")
			}
		}
	})
}

// BenchmarkSeal is the per-subscriber cost of a broadcast frame over TLS.
func BenchmarkSeal(b *testing.B) {
	for _, s := range allSuites[:3] {
		for _, n := range []int{100, 1024} {
			for _, release := range []bool{false, true} {
				name := fmt.Sprintf("%s/%dB/release=%v", tls.CipherSuiteName(s.suite), n, release)
				b.Run(name, func(b *testing.B) {
					srv, _ := pair(b, s.vers, s.suite, 1)
					msg := make([]byte, n)
					buf := make([]byte, 0, n+64)
					b.SetBytes(int64(n))
					b.ReportAllocs()
					for b.Loop() {
						if release {
							srv.Release()
						}
						buf, _ = srv.Seal(buf[:0], msg)
					}
				})
			}
		}
	}
}
