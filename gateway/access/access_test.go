package access

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/router"
	"github.com/wsgate/wsgate/router/auth"
)

// The test harness: access control over a real router (routes and pools
// from specs, as the gateway builds them), request heads parsed by codec,
// and no socket unless an auth service is asked.

var secret = []byte("0123456789abcdef0123456789abcdef") // RFC 7518 3.2's 32 bytes

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// jwtConfig is -jwt-key hs256 with secret, plus the grace and per-user limit.
func jwtConfig(grace time.Duration, maxPerUser int) auth.Config {
	return auth.Config{Keys: []string{"hs256:" + base64.StdEncoding.EncodeToString(secret)},
		Cookie: "jwt", ExpiryGrace: grace, MaxPerUser: maxPerUser}
}

type fixture struct {
	a   *Access
	rt  *router.Router
	reg *prometheus.Registry
}

func newFixture(t *testing.T, jc auth.Config, routes, backends []string) *fixture {
	t.Helper()
	rt, err := router.New(router.Config{Routes: routes, Backends: backends}, quiet())
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	reg := prometheus.NewRegistry()
	a, err := New(Options{JWT: jc, Timeout: 2 * time.Second, Router: rt, Registry: reg, Log: quiet()})
	if err != nil {
		t.Fatalf("access: %v", err)
	}
	return &fixture{a: a, rt: rt, reg: reg}
}

// upgrade is an upgrade head for target with extra header lines ("Name: value\r\n").
func upgrade(target, extra string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: chat.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + extra + "\r\n"
}

// probe is a request to decide and the route it matched.
type probe struct {
	Request
	match *router.Decision
}

func (p *probe) decide(a *Access) Decision { return a.Decide(p.match, &p.Request) }

// request parses head and matches it as the handshake does (the topic's
// policy applied), ready for Decide.
func (f *fixture) request(t *testing.T, head string) *probe {
	t.Helper()
	req, n, err := codec.ParseRequestHead([]byte(head), 8192)
	if err != nil || n == 0 {
		t.Fatalf("parse %q: n=%d err=%v", head, n, err)
	}
	s := f.rt.Current()
	d := s.Match(&router.Request{Host: req.Host, Path: req.Path, Upgrade: req.IsUpgrade()})
	if d.Status != 0 {
		t.Fatalf("match %s: %d %s", req.Path, d.Status, d.Reason)
	}
	if d.Route.Kind == router.TargetTopic {
		d.Route = s.TopicPolicy(d.Topic).Apply(d.Route)
	}
	return &probe{Request: Request{Head: req, IP: netip.MustParseAddr("127.0.0.9")}, match: &d}
}

func (f *fixture) decide(t *testing.T, head string) Decision {
	t.Helper()
	return f.request(t, head).decide(f.a)
}

// count reads a counter (or a histogram's sample count) with one label.
func (f *fixture) count(t *testing.T, name, label string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if ls := m.GetLabel(); label == "" && len(ls) == 0 || len(ls) == 1 && ls[0].GetValue() == label {
				if h := m.GetHistogram(); h != nil {
					return float64(h.GetSampleCount())
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

// token signs claims with secret (HS256).
func token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims are a token's claims for sub, expiring in an hour, plus kv pairs.
func claims(sub string, kv ...any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

// refused checks a refusal's status, challenge and reason.
func refused(t *testing.T, what string, d Decision, status int, challenge, reason string) {
	t.Helper()
	if d.Verdict != Refuse || d.Status != status || d.Challenge != challenge || !strings.Contains(d.Reason, reason) {
		t.Errorf("%s: %+v, want %d %q %q", what, d, status, challenge, reason)
	}
}
