package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
)

// key is one verification key and the algorithms it may verify. The alg a
// token names must be one of them: an HMAC secret never verifies an RS256
// token nor an RSA key an HS256 one (the algorithm-confusion attack).
type key struct {
	kid  string // "" for a -jwt-key (matches any kid)
	algs []string
	pub  any // []byte for HMAC, *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey
}

// minSecret is RFC 7518 3.2's floor for an HS256 key: the hash size.
const minSecret = 32

// parseKeyFlag parses one -jwt-key: hs256:BASE64SECRET or a PEM file path.
func parseKeyFlag(v string) (key, error) {
	if rest, ok := strings.CutPrefix(v, "hs256:"); ok {
		secret, err := decodeBase64(rest)
		if err != nil {
			return key{}, fmt.Errorf("-jwt-key hs256: the secret is not base64: %w", err)
		}
		if len(secret) < minSecret {
			return key{}, fmt.Errorf("-jwt-key hs256: secret of %d bytes, want at least %d (RFC 7518 3.2)", len(secret), minSecret)
		}
		return key{algs: []string{"HS256"}, pub: secret}, nil
	}
	data, err := os.ReadFile(v)
	if err != nil {
		return key{}, fmt.Errorf("-jwt-key: %w (want hs256:BASE64SECRET or a PEM public key file)", err)
	}
	pub, err := parsePEM(data)
	if err != nil {
		return key{}, fmt.Errorf("-jwt-key %s: %w", v, err)
	}
	return publicKey("", "", pub)
}

// decodeBase64 takes standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func parsePEM(data []byte) (any, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	switch b.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	}
	return nil, fmt.Errorf("PEM block %q: want a PUBLIC KEY (a private key does not belong on the gateway)", b.Type)
}

// publicKey files a public key with the algorithms its type allows; alg,
// when a JWK names one, narrows them to it.
func publicKey(kid, alg string, pub any) (key, error) {
	var algs []string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return key{}, fmt.Errorf("RSA key of %d bits, want at least 2048", k.N.BitLen())
		}
		algs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			algs = []string{"ES256"}
		case elliptic.P384():
			algs = []string{"ES384"}
		case elliptic.P521():
			algs = []string{"ES512"}
		default:
			return key{}, errors.New("unsupported ECDSA curve")
		}
	case ed25519.PublicKey:
		algs = []string{"EdDSA"}
	default:
		return key{}, fmt.Errorf("unsupported key type %T (want RSA, ECDSA or Ed25519)", pub)
	}
	if alg != "" {
		ok := false
		for _, a := range algs {
			ok = ok || a == alg
		}
		if !ok {
			return key{}, fmt.Errorf("alg %q does not fit a %T key", alg, pub)
		}
		algs = []string{alg}
	}
	return key{kid: kid, algs: algs, pub: pub}, nil
}

// jwk is the part of an RFC 7517 key that verification needs. The set is
// parsed here with crypto/* rather than with go-jose or jwx: three key
// types (RSA n/e, EC crv/x/y, OKP Ed25519 x) are a few lines each, and
// golang-jwt does the verifying, so a JOSE library would only add code.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS returns the usable keys of a JWK set. Keys it cannot use (an
// encryption key, a symmetric key, an unknown type) are skipped and
// counted; a set with no usable key is an error.
func parseJWKS(data []byte) (keys []key, skipped int, err error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, 0, fmt.Errorf("JWK set: %w", err)
	}
	for _, j := range set.Keys {
		k, err := j.key()
		if err != nil {
			skipped++
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("JWK set: no usable key among %d", len(set.Keys))
	}
	return keys, skipped, nil
}

func (j jwk) key() (key, error) {
	if j.Use != "" && j.Use != "sig" {
		return key{}, errors.New("not a signing key")
	}
	b := func(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "=")) }
	var pub any
	switch j.Kty {
	case "RSA":
		n, err1 := b(j.N)
		e, err2 := b(j.E)
		if err := errors.Join(err1, err2); err != nil || len(e) == 0 || len(e) > 4 {
			return key{}, errors.New("bad RSA n/e")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	case "EC":
		curves := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
		c, ok := curves[j.Crv]
		if !ok {
			return key{}, errors.New("unknown curve")
		}
		x, err1 := b(j.X)
		y, err2 := b(j.Y)
		size := (c.Params().BitSize + 7) / 8
		if errors.Join(err1, err2) != nil || len(x) != size || len(y) != size {
			return key{}, errors.New("bad EC x/y")
		}
		// ParseUncompressedPublicKey checks that the point is on the curve.
		k, err := ecdsa.ParseUncompressedPublicKey(c, append(append([]byte{4}, x...), y...))
		if err != nil {
			return key{}, err
		}
		pub = k
	case "OKP":
		x, err := b(j.X)
		if j.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return key{}, errors.New("bad OKP key")
		}
		pub = ed25519.PublicKey(x)
	default:
		return key{}, fmt.Errorf("kty %q", j.Kty)
	}
	return publicKey(j.Kid, j.Alg, pub)
}
