package options

import (
	"testing"
	"time"
)

// TestJWTFlags: the -jwt-* flags (command line and WSGATE_*) land in Config.JWT.
func TestJWTFlags(t *testing.T) {
	const k1, k2 = "hs256:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "hs256:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
	env := map[string]string{"WSGATE_JWT_AUDIENCE": "wsgate", "WSGATE_MAX_CONNS_PER_USER": "4"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	o, err := Parse([]string{"-jwt-key", k1, "-jwt-key", k2, "-jwt-issuer", "https://id.example",
		"-jwt-cookie", "sess", "-jwt-expiry-grace", "2s", "-route", "/r/=topic:*;publish=none;auth=jwt"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Config()
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.JWT
	if len(j.Keys) != 2 || j.Keys[1] != k2 || j.Issuer != "https://id.example" || j.Audience != "wsgate" ||
		j.Cookie != "sess" || j.ExpiryGrace != 2*time.Second || j.MaxPerUser != 4 || j.JWKSRefresh != 5*time.Minute {
		t.Errorf("JWT config %+v", j)
	}
}
