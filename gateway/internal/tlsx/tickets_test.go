package tlsx

import (
	"crypto/tls"
	"io"
	"testing"
	"time"
)

// firstTicket is a client session cache that keeps the first ticket it is
// given: later tickets (issued on resumption) do not replace it.
type firstTicket struct{ st *tls.ClientSessionState }

func (c *firstTicket) Get(string) (*tls.ClientSessionState, bool) { return c.st, c.st != nil }
func (c *firstTicket) Put(_ string, st *tls.ClientSessionState) {
	if c.st == nil && st != nil {
		c.st = st
	}
}

// The keys given to SetSessionTicketKeys reach the handshakes: a ticket
// resumes while its key is kept, and no more once it is dropped (the
// listener once kept the keys of the config it cloned, forever).
func TestSessionTicketKeyRotation(t *testing.T) {
	pki := newPKI(t)
	cfg := pki.serverConfig()
	k1, k2, k3 := [32]byte{1}, [32]byte{2}, [32]byte{3}
	cfg.SetSessionTicketKeys([][32]byte{k1})
	srv, err := NewServer(cfg)
	must(t, err)
	addr, results := listen(t, srv)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		srv.SetSessionTicketKeys([][32]byte{k1})
		cache := &firstTicket{}
		dial := func() bool {
			t.Helper()
			ccfg := pki.clientConfig()
			ccfg.MinVersion, ccfg.MaxVersion, ccfg.ClientSessionCache = v, v, cache
			c, err := tls.Dial("tcp", addr, ccfg)
			must(t, err)
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, err = c.Write([]byte("x"))
			must(t, err)
			_, err = io.ReadFull(c, make([]byte, 1)) // the echo; TLS 1.3: the ticket came before it
			must(t, err)
			resumed := c.ConnectionState().DidResume
			c.Close()
			if r := <-results; r.hsErr != nil || r.conn.DidResume() != resumed {
				t.Fatalf("%s: server %v, resumed %v; client resumed %v", tls.VersionName(v), r.hsErr, r.conn.DidResume(), resumed)
			}
			return resumed
		}
		if dial() || !dial() {
			t.Fatalf("%s: a second connection does not resume", tls.VersionName(v))
		}
		srv.SetSessionTicketKeys([][32]byte{k2, k1}) // rotated, k1 still kept
		if !dial() {
			t.Fatalf("%s: the ticket does not resume while its key is kept", tls.VersionName(v))
		}
		srv.SetSessionTicketKeys([][32]byte{k3, k2}) // k1 dropped
		if dial() {
			t.Fatalf("%s: the ticket resumes after its key was dropped", tls.VersionName(v))
		}
	}
}
