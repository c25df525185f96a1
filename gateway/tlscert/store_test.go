package tlscert

import (
	"crypto/tls"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLoadAndCerts(t *testing.T) {
	p := newPKI(t)
	ec := p.pair(t, "ec", p.leaf(t, certSpec{cn: "ec", dns: []string{"a.example.com", "B.example.com"}}), false)
	rs := p.pair(t, "rsa", p.leaf(t, certSpec{cn: "rsa", dns: []string{"*.example.org"}, rsa: true}), true)
	s, err := New(Options{Listen: "127.0.0.1:0", Certs: []string{ec, rs}})
	if err != nil {
		t.Fatal(err)
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}
	certs := s.Certs()
	if len(certs) != 2 || certs[0].Name != "a.example.com" || strings.Join(certs[0].Names, ",") != "a.example.com,b.example.com" ||
		!certs[0].Default || certs[1].Default || certs[1].Name != "*.example.org" || certs[1].Files != rs ||
		certs[0].Issuer != "CN=wsgate test intermediate" || time.Until(certs[0].NotAfter) < 80*24*time.Hour {
		t.Errorf("certs %+v", certs)
	}
	cfg := s.Config()
	if cfg.MinVersion != tls.VersionTLS12 || len(cfg.CipherSuites) != 6 || strings.Join(cfg.NextProtos, ",") != "http/1.1" ||
		len(cfg.CurvePreferences) != 3 {
		t.Errorf("config %+v", cfg)
	}
	for _, id := range cfg.CipherSuites {
		if name := tls.CipherSuiteName(id); !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")) {
			t.Errorf("suite %s is not in Mozilla intermediate", name)
		}
	}
	s13, err := New(Options{Listen: ":443", Certs: []string{ec}, MinVersion: "1.3"})
	if err != nil || s13.Config().MinVersion != tls.VersionTLS13 {
		t.Errorf("-tls-min-version 1.3: %v", err)
	}
}

// TestLoadErrors: every broken pair gives its own line naming the flag value
// and what is wrong; several broken pairs give several lines.
func TestLoadErrors(t *testing.T) {
	p := newPKI(t)
	now := time.Now()
	good := p.leaf(t, certSpec{cn: "good", dns: []string{"good.test"}})
	other := p.leaf(t, certSpec{cn: "other", dns: []string{"other.test"}})
	wrongKey := p.write(t, "wrong.crt", pemCerts(good, p.inter)) + "," + p.write(t, "wrong.key", pemKey(t, other.key))
	outOfOrder := p.write(t, "order.pem", pemCerts(p.inter, good), pemKey(t, good.key))
	expired := p.pair(t, "expired", p.leaf(t, certSpec{cn: "expired", notBefore: now.Add(-60 * 24 * time.Hour), notAfter: now.Add(-24 * time.Hour)}), true)
	future := p.pair(t, "future", p.leaf(t, certSpec{cn: "future", notBefore: now.Add(24 * time.Hour)}), true)
	noKey := p.write(t, "nokey.pem", pemCerts(good))
	noCert := p.write(t, "nocert.pem", pemKey(t, good.key))
	encrypted := p.write(t, "enc.pem", pemCerts(good), []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	missing := p.dir + "/missing.pem"
	cases := []struct {
		opts Options
		want []string
	}{
		{Options{Certs: []string{wrongKey}}, []string{`-tls-cert "` + wrongKey + `": the private key in ` + p.dir + `/wrong.key does not match certificate 1 "CN=good"`}},
		{Options{Certs: []string{outOfOrder}}, []string{`-tls-cert "` + outOfOrder + `": certificate 1 "CN=wsgate test intermediate" is not signed by certificate 2 "CN=good" (want the leaf first, then each issuer in order)`}},
		{Options{Certs: []string{expired}}, []string{`-tls-cert "` + expired + `": certificate 1 "CN=expired" expired on `}},
		{Options{Certs: []string{future}}, []string{`-tls-cert "` + future + `": certificate 1 "CN=future" is not valid before `}},
		{Options{Certs: []string{noKey}}, []string{`-tls-cert "` + noKey + `": ` + noKey + `: no PRIVATE KEY in PEM form (give CERT.pem,KEY.pem, or append the key to the certificate file)`}},
		{Options{Certs: []string{noCert}}, []string{`-tls-cert "` + noCert + `": ` + noCert + `: no CERTIFICATE in PEM form`}},
		{Options{Certs: []string{encrypted}}, []string{`: the private key is encrypted`}},
		{Options{Certs: []string{missing}}, []string{`-tls-cert "` + missing + `": open ` + missing + `: no such file or directory`}},
		{Options{Certs: []string{"a.pem,"}}, []string{`-tls-cert "a.pem,": want CERT.pem[,KEY.pem] (one pair per flag)`}},
		{Options{Certs: []string{"a.pem,b.key,c.key"}}, []string{`-tls-cert "a.pem,b.key,c.key": want CERT.pem[,KEY.pem]`}},
		{Options{Certs: []string{noKey}, MinVersion: "1.1"}, []string{`-tls-min-version: "1.1": want 1.2 or 1.3`, `no PRIVATE KEY`}},
		{Options{Listen: "443"}, []string{`-tls-listen: "443": want [HOST]:PORT`, `-tls-listen: needs at least one -tls-cert`}},
		// Every broken pair is reported, not just the first.
		{Options{Certs: []string{expired, wrongKey, outOfOrder}}, []string{`"CN=expired" expired`, `does not match`, `is not signed by`}},
	}
	for _, c := range cases {
		_, err := c.opts.Check(now)
		if err == nil {
			t.Errorf("%+v: no error", c.opts)
			continue
		}
		if n := len(strings.Split(err.Error(), "\n")); n != len(c.want) {
			t.Errorf("%+v: %d lines, want %d:\n%v", c.opts, n, len(c.want), err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error lacks %q:\n%v", c.opts, w, err)
			}
		}
		if c.opts.Listen == "" {
			if _, err := New(c.opts); err == nil {
				t.Errorf("%+v: New accepted it", c.opts)
			}
		}
	}
}

func TestWarnings(t *testing.T) {
	p := newPKI(t)
	soon := p.pair(t, "soon", p.leaf(t, certSpec{cn: "soon", dns: []string{"soon.test"}, notAfter: time.Now().Add(3*24*time.Hour + time.Hour)}), true)
	dup := p.pair(t, "dup", p.leaf(t, certSpec{cn: "dup", dns: []string{"soon.test"}}), true)
	dupRSA := p.pair(t, "duprsa", p.leaf(t, certSpec{cn: "duprsa", dns: []string{"soon.test"}, rsa: true}), true)
	o := Options{Listen: ":8443", Certs: []string{soon, dup, dupRSA}}
	warns, err := o.Check(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`-tls-cert "` + soon + `": certificate 1 "CN=soon" expires in 3 days, on `,
		`-tls-cert "` + dup + `": name "soon.test" is also in -tls-cert "` + soon + `", which comes first and is served instead`,
	}
	if len(warns) != len(want) {
		t.Fatalf("warnings %q", warns)
	}
	for i, w := range want {
		if !strings.HasPrefix(warns[i], w) {
			t.Errorf("warning %q, want %q", warns[i], w)
		}
	}
	s, err := New(o)
	if err != nil || len(s.Warnings()) != 2 {
		t.Errorf("store warnings %q, %v", s.Warnings(), err)
	}
	if w, _ := (Options{Certs: []string{dup}}).Check(time.Now()); len(w) != 1 || !strings.Contains(w[0], "without -tls-listen") {
		t.Errorf("certificates without listener: %q", w)
	}
}

type localAddrConn struct {
	net.Conn
	local net.Addr
}

func (c localAddrConn) LocalAddr() net.Addr { return c.local }

func TestSNI(t *testing.T) {
	p := newPKI(t)
	specs := []string{
		p.pair(t, "default", p.leaf(t, certSpec{cn: "default", dns: []string{"default.test"}}), true),
		p.pair(t, "exact", p.leaf(t, certSpec{cn: "exact", dns: []string{"www.example.com"}}), true),
		p.pair(t, "wild", p.leaf(t, certSpec{cn: "wild", dns: []string{"*.example.com"}}), true),
		p.pair(t, "cn", p.leaf(t, certSpec{cn: "cn-only.test"}), true),
		p.pair(t, "cnignored", p.leaf(t, certSpec{cn: "cn-ignored.test", dns: []string{"san.test"}}), true),
		p.pair(t, "ip", p.leaf(t, certSpec{cn: "ip", ips: []net.IP{net.ParseIP("127.0.0.7")}}), true),
		p.pair(t, "both-ec", p.leaf(t, certSpec{cn: "both-ec", dns: []string{"both.test"}}), true),
		p.pair(t, "both-rsa", p.leaf(t, certSpec{cn: "both-rsa", dns: []string{"both.test"}, rsa: true}), true),
	}
	s, err := New(Options{Certs: specs})
	if err != nil {
		t.Fatal(err)
	}
	modern := tls.ClientHelloInfo{
		SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
		CipherSuites:      []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256, tls.PKCS1WithSHA256},
		SupportedCurves:   []tls.CurveID{tls.X25519, tls.CurveP256},
		SupportedPoints:   []uint8{0},
	}
	rsaOnly := modern
	rsaOnly.SupportedVersions = []uint16{tls.VersionTLS12}
	rsaOnly.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	rsaOnly.SignatureSchemes = []tls.SignatureScheme{tls.PSSWithSHA256, tls.PKCS1WithSHA256}
	cases := []struct {
		sni   string
		local string
		hello tls.ClientHelloInfo
		want  string
	}{
		{"www.example.com", "", modern, "exact"},
		{"WWW.Example.COM.", "", modern, "exact"},
		{"chat.example.com", "", modern, "wild"},
		{"a.b.example.com", "", modern, "default"}, // a wildcard covers one label
		{"example.com", "", modern, "default"},
		{"cn-only.test", "", modern, "cn-only.test"},
		{"cn-ignored.test", "", modern, "default"}, // CN is ignored when there are SANs
		{"san.test", "", modern, "cn-ignored.test"},
		{"unknown.test", "", modern, "default"},
		{"", "127.0.0.7", modern, "ip"}, // no SNI: the local address picks an IP SAN
		{"", "127.0.0.1", modern, "default"},
		{"both.test", "", modern, "both-ec"},
		{"both.test", "", rsaOnly, "both-rsa"}, // the first pair the client can use
	}
	for _, c := range cases {
		h := c.hello
		h.ServerName = c.sni
		if c.local != "" {
			h.Conn = localAddrConn{local: &net.TCPAddr{IP: net.ParseIP(c.local), Port: 443}}
		}
		got, err := s.GetCertificate(&h)
		if err != nil || got.Leaf.Subject.CommonName != c.want {
			t.Errorf("SNI %q local %q: got %q (%v), want %q", c.sni, c.local, got.Leaf.Subject.CommonName, err, c.want)
		}
	}
}

func TestReload(t *testing.T) {
	p := newPKI(t)
	spec := p.pair(t, "site", p.leaf(t, certSpec{cn: "v1", dns: []string{"site.test"}}), false)
	s, err := New(Options{Certs: []string{spec}})
	if err != nil {
		t.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{ServerName: "site.test"}
	cn := func() string { c, _ := s.GetCertificate(hello); return c.Leaf.Subject.CommonName }
	p.pair(t, "site", p.leaf(t, certSpec{cn: "v2", dns: []string{"site.test"}}), false)
	if cn() != "v1" {
		t.Fatal("the files were read before Reload")
	}
	if err := s.Reload(nil); err != nil || cn() != "v2" {
		t.Fatalf("reload: %v, serving %s", err, cn())
	}
	// A bad reload (key of another certificate) keeps v2 and says why, for every pair.
	other := p.leaf(t, certSpec{cn: "v3", dns: []string{"site.test"}})
	p.write(t, "site.crt", pemCerts(other, p.inter))
	extra := p.dir + "/missing.pem"
	err = s.Reload([]string{spec, extra})
	if err == nil || !strings.Contains(err.Error(), "does not match") || !strings.Contains(err.Error(), "missing.pem: no such file") || cn() != "v2" {
		t.Fatalf("bad reload: %v, serving %s", err, cn())
	}
	if err := os.WriteFile(p.dir+"/site.key", pemKey(t, other.key), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(nil); err != nil || cn() != "v3" {
		t.Fatalf("reload after the fix: %v, serving %s", err, cn())
	}
	// Reload with a new list of pairs (a changed -tls-cert on SIGHUP).
	other2 := p.pair(t, "other", p.leaf(t, certSpec{cn: "other", dns: []string{"other.test"}}), true)
	if err := s.Reload([]string{other2, spec}); err != nil || cn() != "v3" || s.Certs()[0].Name != "other.test" {
		t.Fatalf("reload with new pairs: %v, %+v", err, s.Certs())
	}
}

// stickyCache keeps the first ticket it is given, so a test can present the
// same ticket after the server rotated its keys (a resumed handshake may
// reissue one).
type stickyCache struct{ st *tls.ClientSessionState }

func (c *stickyCache) Get(string) (*tls.ClientSessionState, bool) { return c.st, c.st != nil }
func (c *stickyCache) Put(_ string, st *tls.ClientSessionState) {
	if c.st == nil && st != nil {
		c.st = st
	}
}

func TestTicketKeyRotation(t *testing.T) {
	p := newPKI(t)
	s, err := New(Options{Certs: []string{p.pair(t, "site", p.leaf(t, certSpec{cn: "site", dns: []string{"site.test"}}), true)}})
	if err != nil {
		t.Fatal(err)
	}
	addr, results := serve(t, s.Config())
	clock := time.Now()
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := &stickyCache{}
		dial := func() bool {
			t.Helper()
			c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "site.test", RootCAs: p.pool(), ClientSessionCache: cache,
				MinVersion: version, MaxVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _ = c.Read(make([]byte, 8)) // TLS 1.3: the ticket comes after the handshake
			h := next(t, results)
			if h.err != nil || h.state.DidResume != c.ConnectionState().DidResume {
				t.Fatalf("server %v, resumed %v; client resumed %v", h.err, h.state.DidResume, c.ConnectionState().DidResume)
			}
			return h.state.DidResume
		}
		clock = clock.Add(TicketKeyInterval)
		if !s.RotateTicketKeys(clock) { // a fresh key for this version's first ticket
			t.Fatal("no rotation after the interval")
		}
		if dial() || !dial() {
			t.Fatalf("version %x: a second connection does not resume", version)
		}
		if s.RotateTicketKeys(clock.Add(TicketKeyInterval - time.Minute)) {
			t.Error("rotated before the interval")
		}
		for i := 1; i < TicketKeysKept; i++ {
			clock = clock.Add(TicketKeyInterval)
			if !s.RotateTicketKeys(clock) {
				t.Fatalf("rotation %d did not happen", i)
			}
			if !dial() {
				t.Fatalf("version %x: the ticket does not resume after %d rotations", version, i)
			}
		}
		clock = clock.Add(TicketKeyInterval)
		s.RotateTicketKeys(clock)
		if dial() {
			t.Fatalf("version %x: the ticket resumes after its key was dropped", version)
		}
	}
}

// TestHandshakePolicy: the configuration refuses what Mozilla intermediate
// refuses and ALPN other than http/1.1, seen from a crypto/tls client.
func TestHandshakePolicy(t *testing.T) {
	p := newPKI(t)
	s, err := New(Options{Certs: []string{p.pair(t, "site", p.leaf(t, certSpec{cn: "site", dns: []string{"site.test"}, rsa: true}), true)}})
	if err != nil {
		t.Fatal(err)
	}
	addr, results := serve(t, s.Config())
	cases := []struct {
		name      string
		client    *tls.Config
		serverErr string // "" = accepted
		alpn      string
	}{
		{"h2 only", &tls.Config{NextProtos: []string{"h2"}}, "client requested unsupported application protocols", ""},
		{"h2 and http/1.1", &tls.Config{NextProtos: []string{"h2", "http/1.1"}}, "", "http/1.1"},
		{"no ALPN", &tls.Config{}, "", ""},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, "unsupported versions", ""},
		{"TLS 1.2 RSA key exchange", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}, "no cipher suite supported by both", ""},
		{"TLS 1.2 CBC", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}, "no cipher suite supported by both", ""},
		{"TLS 1.2 ECDHE-RSA-CHACHA20", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}}, "", ""},
	}
	for _, c := range cases {
		cfg := c.client.Clone()
		cfg.ServerName, cfg.RootCAs = "site.test", p.pool()
		conn, cerr := tls.Dial("tcp", addr, cfg)
		h := next(t, results)
		if c.serverErr == "" {
			if cerr != nil || h.err != nil || h.state.NegotiatedProtocol != c.alpn {
				t.Errorf("%s: client %v, server %v, alpn %q", c.name, cerr, h.err, h.state.NegotiatedProtocol)
			}
		} else if cerr == nil || h.err == nil || !strings.Contains(h.err.Error(), c.serverErr) {
			t.Errorf("%s: client %v, server %v: want a refusal with %q", c.name, cerr, h.err, c.serverErr)
		}
		if conn != nil {
			conn.Close()
		}
	}
}

// A server that cloned Config (as tlsx.NewServer does) rotates its ticket keys with the store only
// through FollowTicketKeys: without it the clone kept the first key forever.
func TestTicketKeysFollowed(t *testing.T) {
	p := newPKI(t)
	s, err := New(Options{Certs: []string{p.pair(t, "site", p.leaf(t, certSpec{cn: "site", dns: []string{"site.test"}}), true)}})
	if err != nil {
		t.Fatal(err)
	}
	clone := s.Config().Clone()
	s.FollowTicketKeys(clone.SetSessionTicketKeys)
	addr, results := serve(t, clone)
	clock := time.Now()
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := &stickyCache{}
		dial := func() bool {
			t.Helper()
			c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "site.test", RootCAs: p.pool(), ClientSessionCache: cache,
				MinVersion: version, MaxVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _ = c.Read(make([]byte, 8))
			if h := next(t, results); h.err != nil {
				t.Fatal(h.err)
			}
			return c.ConnectionState().DidResume
		}
		clock = clock.Add(TicketKeyInterval)
		s.RotateTicketKeys(clock)
		if dial() || !dial() {
			t.Fatalf("version %x: a second connection does not resume", version)
		}
		for range TicketKeysKept {
			clock = clock.Add(TicketKeyInterval)
			s.RotateTicketKeys(clock)
		}
		if dial() {
			t.Fatalf("version %x: the clone's ticket resumes after the store dropped its key", version)
		}
	}
}
