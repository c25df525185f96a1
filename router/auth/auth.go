// Package auth checks who may use a route (issue 13): it verifies bearer
// JWTs with golang-jwt against static keys and a JWK set it refreshes in
// the background, and answers which topics a token lets its bearer
// subscribe and publish to. It knows nothing of sockets: the gateway asks
// it at the upgrade, once per connection, never per message.
package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wsgate/wsgate/codec"
)

// Config is the -jwt-* flags. Plain data: Validate checks it without
// starting anything, New loads it.
type Config struct {
	Keys        []string      // -jwt-key: hs256:BASE64SECRET or a PEM public key file
	JWKS        string        // -jwt-jwks URL; "" none
	JWKSRefresh time.Duration // -jwt-jwks-refresh
	Issuer      string        // -jwt-issuer; "" not checked
	Audience    string        // -jwt-audience; "" not checked
	Cookie      string        // -jwt-cookie: cookie carrying the token; "" none
	ExpiryGrace time.Duration // -jwt-expiry-grace: a session outlives its token this long
	MaxPerUser  int           // -max-conns-per-user (by sub); 0 unlimited
}

// Equal reports whether c and o configure the same verification.
func (c *Config) Equal(o *Config) bool {
	return slices.Equal(c.Keys, o.Keys) && c.JWKS == o.JWKS && c.JWKSRefresh == o.JWKSRefresh &&
		c.Issuer == o.Issuer && c.Audience == o.Audience && c.Cookie == o.Cookie &&
		c.ExpiryGrace == o.ExpiryGrace && c.MaxPerUser == o.MaxPerUser
}

// Enabled reports whether any key source is configured.
func (c *Config) Enabled() bool { return len(c.Keys) > 0 || c.JWKS != "" }

// Leeway is the clock skew tolerated on exp and nbf. A constant: 30 s
// covers NTP-synced hosts, and a flag would only invite large values.
const Leeway = 30 * time.Second

// MaxTokenBytes bounds a token: a longer one is refused unparsed.
const MaxTokenBytes = 8 << 10

// minRefreshGap is how soon an unknown kid may trigger another JWKS fetch.
const minRefreshGap = time.Minute

// Validate checks the keys (files are read) and the JWKS URL's syntax; it
// does not fetch the URL (New does, and refuses to start without it).
func (c *Config) Validate() error {
	var errs []error
	for _, k := range c.Keys {
		if _, err := parseKeyFlag(k); err != nil {
			errs = append(errs, err)
		}
	}
	if c.JWKS != "" {
		if u, err := url.Parse(c.JWKS); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("-jwt-jwks: %q: want an http(s) URL", c.JWKS))
		}
		if c.JWKSRefresh < time.Second {
			errs = append(errs, fmt.Errorf("-jwt-jwks-refresh: %v: want at least 1s", c.JWKSRefresh))
		}
	}
	if c.ExpiryGrace < 0 || c.MaxPerUser < 0 {
		errs = append(errs, errors.New("-jwt-expiry-grace, -max-conns-per-user: must be >= 0"))
	}
	return errors.Join(errs...)
}

// The reasons a token is refused; the gateway maps them to 401 and metrics.
var (
	ErrMissing  = errors.New("no token")
	ErrInvalid  = errors.New("invalid token")
	ErrExpired  = errors.New("token expired")
	ErrConflict = errors.New("different tokens in the Authorization header and the query or cookie")
)

// Claims is what a verified token grants.
type Claims struct {
	Subject string
	Expires time.Time
	Topics  []string // patterns the bearer may subscribe to
	Publish []string // patterns it may publish to
}

// MaySubscribe and MayPublish match a topic against the claim's patterns.
func (c *Claims) MaySubscribe(topic string) bool { return Match(c.Topics, topic) }

// MayPublish: see MaySubscribe.
func (c *Claims) MayPublish(topic string) bool { return Match(c.Publish, topic) }

// Match reports whether topic is one of patterns: an exact name, or a
// prefix followed by '*' ("*" alone matches every topic).
func Match(patterns []string, topic string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(topic, prefix) {
				return true
			}
		} else if p == topic {
			return true
		}
	}
	return false
}

type tokenClaims struct {
	jwt.RegisteredClaims
	Topics  []string `json:"topics,omitempty"`
	Publish []string `json:"publish,omitempty"`
}

// Verifier checks tokens. Verify is safe from any goroutine (event loops
// call it): the keys are an atomic snapshot.
type Verifier struct {
	cfg    Config
	log    *slog.Logger
	static []key
	jwks   atomic.Pointer[[]key]
	parser *jwt.Parser
	client *http.Client

	kick        chan struct{} // an unknown kid asks for a refresh
	gap         time.Duration // minRefreshGap (tests shorten it)
	mu          sync.Mutex
	lastFetch   time.Time
	Refreshes   atomic.Uint64 // JWKS fetches that succeeded
	RefreshFail atomic.Uint64 // JWKS fetches that failed (the last good keys stay)
}

// New loads the keys and, with -jwt-jwks, fetches the set once: a gateway
// that cannot read it refuses to start (fail closed). Run refreshes it.
func New(cfg Config, log *slog.Logger) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg, log: log, kick: make(chan struct{}, 1), gap: minRefreshGap, client: &http.Client{Timeout: 10 * time.Second}}
	algs := map[string]bool{}
	for _, s := range cfg.Keys {
		k, _ := parseKeyFlag(s) // checked by Validate
		v.static = append(v.static, k)
		for _, a := range k.algs {
			algs[a] = true
		}
	}
	v.jwks.Store(&[]key{})
	if plainRemote(cfg.JWKS) {
		// Whoever is on the path can substitute the keys, and with them mint any token.
		log.Warn("-jwt-jwks is fetched over plain http from a host that is not loopback: "+
			"anyone on the path can substitute the signing keys; use https", "url", cfg.JWKS)
	}
	if cfg.JWKS != "" {
		if err := v.fetch(context.Background()); err != nil {
			return nil, fmt.Errorf("-jwt-jwks: %w", err)
		}
		// Any asymmetric alg may come from a later set; HS256 never does.
		for _, a := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"} {
			algs[a] = true
		}
	}
	valid := make([]string, 0, len(algs))
	for a := range algs {
		valid = append(valid, a)
	}
	slices.Sort(valid)
	opts := []jwt.ParserOption{jwt.WithValidMethods(valid), jwt.WithExpirationRequired(), jwt.WithLeeway(Leeway)}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// plainRemote reports a JWKS URL fetched without TLS from a host other than
// loopback (a sidecar on 127.0.0.1 or localhost is a common, safe setup).
func plainRemote(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(h)
	return err != nil || !ip.IsLoopback()
}

// Run refreshes the JWK set every -jwt-jwks-refresh, and at once (at most
// once a minute) when a token names an unknown kid, until ctx ends.
func (v *Verifier) Run(ctx context.Context) {
	if v.cfg.JWKS == "" {
		return
	}
	t := time.NewTicker(v.cfg.JWKSRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-v.kick:
			v.mu.Lock()
			recent := time.Since(v.lastFetch) < v.gap
			v.mu.Unlock()
			if recent {
				continue
			}
		}
		if err := v.fetch(ctx); err != nil {
			v.log.Warn("JWKS refresh failed, keeping the last good keys", "url", v.cfg.JWKS, "err", err,
				"failures", v.RefreshFail.Load(), "keys", len(*v.jwks.Load()))
		}
	}
}

func (v *Verifier) fetch(ctx context.Context) error {
	v.mu.Lock()
	v.lastFetch = time.Now()
	v.mu.Unlock()
	keys, skipped, err := v.get(ctx)
	if err != nil {
		v.RefreshFail.Add(1)
		return err
	}
	v.jwks.Store(&keys)
	v.Refreshes.Add(1)
	v.log.Debug("JWKS loaded", "url", v.cfg.JWKS, "keys", len(keys), "skipped", skipped)
	return nil
}

func (v *Verifier) get(ctx context.Context) ([]key, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKS, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: %s", v.cfg.JWKS, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", v.cfg.JWKS, err)
	}
	return parseJWKS(data)
}

// Verify checks a token: size, no duplicate member in header or payload
// (encoding/json would keep the last one, another reader the first),
// signature with a key fitting its alg and kid, exp (required), nbf, iss
// and aud. Errors wrap ErrInvalid or ErrExpired.
func (v *Verifier) Verify(token string) (*Claims, error) {
	if token == "" {
		return nil, ErrMissing
	}
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrInvalid, MaxTokenBytes)
	}
	if err := noDuplicates(token); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var tc tokenClaims
	_, err := v.parser.ParseWithClaims(token, &tc, v.keyFor)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w: %v", ErrExpired, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &Claims{Subject: tc.Subject, Expires: tc.ExpiresAt.Time, Topics: tc.Topics, Publish: tc.Publish}, nil
}

// keyFor gives golang-jwt the keys that may verify t: those whose type
// fits t's alg and, for JWKS keys, whose kid is t's.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	var set jwt.VerificationKeySet
	add := func(keys []key, byKid bool) {
		for _, k := range keys {
			if slices.Contains(k.algs, alg) && (!byKid || kid == "" || k.kid == kid) {
				set.Keys = append(set.Keys, k.pub)
			}
		}
	}
	add(v.static, false)
	add(*v.jwks.Load(), true)
	if len(set.Keys) == 0 {
		if kid != "" && v.cfg.JWKS != "" {
			select { // a rotated set: fetch it now (Run limits the rate)
			case v.kick <- struct{}{}:
			default:
			}
		}
		return nil, fmt.Errorf("no key for alg %s kid %q", alg, kid)
	}
	return set, nil
}

// noDuplicates refuses a header or payload that repeats a member name.
// encoding/json (which golang-jwt uses) keeps the last of two members and
// matches claim names case-insensitively, Unicode folding included, so
// {"topics":["news"],"Topics":["*"]} would grant "*" to a token another
// reader sees as "news": names are compared the same way here, after their
// escapes are decoded. A small scanner, not json.Decoder: it runs for every
// upgrade, and the payload is validated again when it is decoded.
func noDuplicates(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("want three dot-separated parts")
	}
	var names []string
	for _, p := range parts[:2] {
		raw, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return fmt.Errorf("bad base64url: %w", err)
		}
		names = names[:0]
		err = eachName(raw, func(name string) error {
			for _, n := range names {
				if strings.EqualFold(n, name) {
					return fmt.Errorf("member %q given twice (as %q)", n, name)
				}
			}
			names = append(names, name)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// eachName calls f with the name of each member of the JSON object in raw.
func eachName(raw []byte, f func(string) error) error {
	bad := errors.New("not a JSON object")
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return bad
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return nil
	}
	for i < len(raw) && raw[i] == '"' {
		end := skipString(raw, i)
		if end < 0 {
			return bad
		}
		name := string(raw[i+1 : end-1])
		if bytes.IndexByte(raw[i:end], '\\') >= 0 {
			if err := json.Unmarshal(raw[i:end], &name); err != nil {
				return bad
			}
		}
		if err := f(name); err != nil {
			return err
		}
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return bad
		}
		if i = skipValue(raw, i+1); i >= len(raw) {
			return bad
		}
		if raw[i] == '}' {
			return nil
		}
		i = skipSpace(raw, i+1) // past ','
	}
	return bad
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"'), or -1.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index of the ',' or '}' that ends the value
// starting at b[i] (len(b) if none).
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			if i = skipString(b, i); i < 0 {
				return len(b)
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return len(b)
}

// TokenFrom picks the token of a request: the Authorization Bearer value,
// the token query parameter, else the cookie. Any two of them that both
// carry a token must carry the same one: a request whose parts
// disagree is refused rather than trusted on either (a proxy or a log may
// have acted on the other one).
func TokenFrom(authorization, query, cookie string) (string, error) {
	// Another scheme (Basic for a proxy in front, say) is not ours: ignored.
	bearer := ""
	if scheme, rest, _ := strings.Cut(authorization, " "); codec.ASCIIEqualFold(scheme, "Bearer") {
		bearer = strings.TrimSpace(rest)
	}
	switch {
	case bearer != "" && query != "" && bearer != query,
		bearer != "" && cookie != "" && bearer != cookie,
		query != "" && cookie != "" && query != cookie:
		return "", ErrConflict
	case bearer != "":
		return bearer, nil
	case query != "":
		return query, nil
	case cookie != "":
		return cookie, nil
	}
	return "", ErrMissing
}
