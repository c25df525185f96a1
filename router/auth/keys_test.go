package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseJWKS: usable keys are kept, others skipped; a point off the
// curve, a short RSA key or an alg that does not fit the key are refused.
func TestParseJWKS(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	raw, _ := ec.PublicKey.Bytes() // 04 || x || y
	b := base64.RawURLEncoding.EncodeToString
	x, y := b(raw[1:33]), b(raw[33:])
	badY := append([]byte(nil), raw[33:]...)
	badY[31] ^= 1
	set := `{"keys":[
		{"kty":"EC","crv":"P-256","kid":"good","x":"` + x + `","y":"` + y + `"},
		{"kty":"EC","crv":"P-256","kid":"offcurve","x":"` + x + `","y":"` + b(badY) + `"},
		{"kty":"EC","crv":"P-256","kid":"wrongalg","alg":"RS256","x":"` + x + `","y":"` + y + `"},
		{"kty":"RSA","kid":"small","n":"` + b([]byte{0xc3, 0x01}) + `","e":"AQAB"},
		{"kty":"oct","kid":"sym","k":"c2VjcmV0"},
		{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"` + b(make([]byte, 32)) + `"},
		{"kty":"EC","crv":"P-256","kid":"enc","use":"enc","x":"` + x + `","y":"` + y + `"}
	]}`
	keys, skipped, err := parseJWKS([]byte(set))
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.kid)
	}
	if strings.Join(kids, ",") != "good,ed" || skipped != 5 {
		t.Errorf("kept %v, skipped %d; want good,ed and 5", kids, skipped)
	}
	if _, _, err := parseJWKS([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)); err == nil {
		t.Error("a set with only a symmetric key was accepted")
	}
	if _, _, err := parseJWKS([]byte(`<html>`)); err == nil {
		t.Error("not JSON accepted")
	}
}

func TestParseKeyFlag(t *testing.T) {
	dir := t.TempDir()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	der, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	p := filepath.Join(dir, "small.pem")
	_ = os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	if _, err := parseKeyFlag(p); err == nil || !strings.Contains(err.Error(), "1024 bits") {
		t.Errorf("1024-bit RSA key: %v", err)
	}
	k, err := parseKeyFlag("hs256:" + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("k", 32))))
	if err != nil || len(k.algs) != 1 || k.algs[0] != "HS256" {
		t.Errorf("URL-safe base64 secret: %+v %v", k, err)
	}
}
