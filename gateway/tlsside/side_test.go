package tlsside

import (
	"net"
	"testing"
)

// A connection's LocalAddr is its listener's address: the TLS listener is told apart from the plain
// one by address and port, even when both use one port on different addresses.
func TestTLSListenerMatch(t *testing.T) {
	cases := []struct {
		tlsListen, local string
		want             bool
	}{
		{"127.0.0.1:8443", "127.0.0.1:8443", true},
		{"127.0.0.1:8443", "127.0.0.1:8080", false},
		{"127.0.0.1:443", "127.0.0.2:443", false},
		{":8443", "0.0.0.0:8443", true},
		{":8443", "[::]:8443", true},
		{":443", "127.0.0.1:443", false}, // -listen 127.0.0.1:443 beside -tls-listen :443 (reuseport)
		{"0.0.0.0:8443", "[::]:8443", true},
		{"localhost:8443", "127.0.0.1:8443", true},
		{"[::1]:8443", "[::1]:8443", true},
	}
	for _, c := range cases {
		ap, err := listenAddr(c.tlsListen)
		if err != nil {
			t.Fatalf("%s: %v", c.tlsListen, err)
		}
		side := &Side{ip: ap.Addr(), port: ap.Port()}
		local, err := net.ResolveTCPAddr("tcp", c.local)
		if err != nil {
			t.Fatal(err)
		}
		if got := side.isListener(local); got != c.want {
			t.Errorf("-tls-listen %s, local address %s: TLS %v, want %v", c.tlsListen, c.local, got, c.want)
		}
	}
}
