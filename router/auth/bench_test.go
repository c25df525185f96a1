package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerify is the CPU one upgrade spends on its token, on the
// event loop: HS256 and ES256 (tokens signed here: the cost, not the
// correctness, is measured; auth_test.go uses Node's tokens).
func BenchmarkVerify(b *testing.B) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	pemFile := filepath.Join(b.TempDir(), "ec.pem")
	_ = os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	v, err := New(Config{Keys: []string{"hs256:" + base64.StdEncoding.EncodeToString(secret), pemFile}}, quiet())
	if err != nil {
		b.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "topics": []string{"room-*"}}
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	es, _ := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(ec)
	for _, tc := range []struct{ name, tok string }{{"HS256", hs}, {"ES256", es}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tc.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
