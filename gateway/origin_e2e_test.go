package gateway_test

import (
	"bufio"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// TestE2EOriginsEveryUpgrade is issue 11 item 11: -origins applies to every
// WebSocket upgrade, proxied ones too (a foreign page must not reach the
// backend: cross-site WebSocket hijacking), and a route's origins= option
// overrides it, for topic and backend routes alike.
func TestE2EOriginsEveryUpgrade(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var upgrades atomic.Int32 // upgrade requests the backend got
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				upgrades.Add(1)
				_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
					"Sec-WebSocket-Accept: " + wstest.AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"))
				time.Sleep(2 * time.Second)
			}()
		}
	}()
	g := startGateway(t, "-origins", "https://app.example",
		"-backend", "app="+ln.Addr().String(),
		"-route", "/app/=backend:app",
		"-route", "/open/=backend:app;origins=any",
		"-route", "/ws=topic:chat",
		"-route", "/other=topic:chat;origins=https://a.example|https://b.example")
	const app, evil = "https://app.example", "https://evil.example"
	for _, tc := range []struct {
		path, origin string
		status       int
		backend      bool // the upgrade reaches the backend
	}{
		{"/app/x", evil, 403, false},
		{"/app/x", app, 101, true},
		{"/app/x", "", 101, true},
		{"/open/x", evil, 101, true},
		{"/ws", evil, 403, false},
		{"/ws", app, 101, false},
		{"/other", app, 403, false},
		{"/other", "https://B.example", 101, false},
	} {
		before := upgrades.Load()
		c, err := net.Dial("tcp", g.Addr)
		if err != nil {
			t.Fatal(err)
		}
		head := "GET " + tc.path + " HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
		if tc.origin != "" {
			head += "Origin: " + tc.origin + "\r\n"
		}
		if _, err := c.Write([]byte(head + "\r\n")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Fatalf("%s Origin %q: %v", tc.path, tc.origin, err)
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%s Origin %q: %d, want %d", tc.path, tc.origin, resp.StatusCode, tc.status)
		}
		if got := upgrades.Load() > before; got != tc.backend {
			t.Errorf("%s Origin %q: reached the backend %v, want %v", tc.path, tc.origin, got, tc.backend)
		}
	}
}
