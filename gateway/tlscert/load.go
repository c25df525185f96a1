package tlscert

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// ExpiryWarning is how close to its NotAfter a certificate of a chain makes
// Check and Store.Warnings warn: two weeks leaves time to renew by hand.
const ExpiryWarning = 14 * 24 * time.Hour

// Pair is one -tls-cert value: a PEM file with the full chain (leaf first)
// and the file with its private key ("" when the key is in Cert, like
// HAProxy's crt).
type Pair struct {
	Cert, Key string
}

// String gives the pair back as it is written on the command line.
func (p Pair) String() string {
	if p.Key == "" {
		return p.Cert
	}
	return p.Cert + "," + p.Key
}

// ParsePair reads one -tls-cert value, CERT.pem[,KEY.pem]. A value is one
// pair, never a list: a certificate cannot be paired with another one's key
// by the order in which flags, WSGATE_* and -config are merged.
func ParsePair(spec string) (Pair, error) {
	cert, key, hasKey := strings.Cut(spec, ",")
	if cert == "" || (hasKey && (key == "" || strings.Contains(key, ","))) {
		return Pair{}, fmt.Errorf("-tls-cert %q: want CERT.pem[,KEY.pem] (one pair per flag)", spec)
	}
	return Pair{Cert: cert, Key: key}, nil
}

// loaded is one pair read and checked.
type loaded struct {
	pair  Pair
	cert  *tls.Certificate // Leaf set
	chain []*x509.Certificate
	names []string // lower case; "*.example.com" for wildcards; IP SANs as text
}

// loadPair reads and checks one pair at now: the key matches the leaf, each
// certificate is signed by the next one, and none is expired or not yet
// valid. It returns every problem, and warnings for a chain that expires
// within ExpiryWarning.
func loadPair(p Pair, now time.Time) (*loaded, []string, error) {
	where := fmt.Sprintf("-tls-cert %q", p.String())
	certPEM, err := os.ReadFile(p.Cert)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", where, err)
	}
	keyPEM, keyFile := certPEM, p.Cert
	if p.Key != "" {
		if keyPEM, err = os.ReadFile(p.Key); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		keyFile = p.Key
	}
	chain, err := parseChain(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", where, p.Cert, err)
	}
	if err := findKey(keyPEM); err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", where, keyFile, err)
	}
	var errs []error
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "does not match") {
			msg = fmt.Sprintf("the private key in %s does not match certificate 1 %q", keyFile, subject(chain[0]))
		}
		// A key that matches a later certificate is a chain out of order,
		// which the order check below reports.
		if i := keyOwner(keyPEM, chain); i <= 0 {
			errs = append(errs, fmt.Errorf("%s: %s", where, strings.TrimPrefix(msg, "tls: ")))
		}
	}
	for i := 0; i+1 < len(chain); i++ {
		if chain[i].CheckSignatureFrom(chain[i+1]) != nil {
			errs = append(errs, fmt.Errorf("%s: certificate %d %q is not signed by certificate %d %q (want the leaf first, then each issuer in order)",
				where, i+1, subject(chain[i]), i+2, subject(chain[i+1])))
		}
	}
	var warns []string
	for i, c := range chain {
		switch {
		case now.After(c.NotAfter):
			errs = append(errs, fmt.Errorf("%s: certificate %d %q expired on %s", where, i+1, subject(c), c.NotAfter.UTC().Format(time.RFC3339)))
		case now.Before(c.NotBefore):
			errs = append(errs, fmt.Errorf("%s: certificate %d %q is not valid before %s", where, i+1, subject(c), c.NotBefore.UTC().Format(time.RFC3339)))
		case c.NotAfter.Sub(now) < ExpiryWarning:
			warns = append(warns, fmt.Sprintf("%s: certificate %d %q expires in %s, on %s", where, i+1, subject(c),
				days(c.NotAfter.Sub(now)), c.NotAfter.UTC().Format(time.RFC3339)))
		}
	}
	if len(errs) > 0 {
		return nil, warns, errors.Join(errs...)
	}
	cert.Leaf = chain[0]
	return &loaded{pair: p, cert: &cert, chain: chain, names: certNames(chain[0])}, warns, nil
}

// parseChain returns the CERTIFICATE blocks of a PEM file, in file order.
// Other blocks (the key, EC PARAMETERS) are skipped.
func parseChain(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no CERTIFICATE in PEM form")
	}
	return chain, nil
}

// findKey says why a file holds no usable private key, with a hint.
func findKey(data []byte) error {
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		switch {
		case block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] == "4,ENCRYPTED":
			return errors.New("the private key is encrypted (wsgate takes unencrypted keys: protect the file instead)")
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			return nil
		}
	}
	return errors.New("no PRIVATE KEY in PEM form (give CERT.pem,KEY.pem, or append the key to the certificate file)")
}

// keyOwner is the index of the certificate of chain whose public key is the
// private key's in keyPEM, or -1.
func keyOwner(keyPEM []byte, chain []*x509.Certificate) int {
	for block, rest := pem.Decode(keyPEM); block != nil; block, rest = pem.Decode(rest) {
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		signer, ok := key.(crypto.Signer)
		if err != nil || !ok {
			return -1
		}
		pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
		for i, c := range chain {
			if ok && pub.Equal(c.PublicKey) {
				return i
			}
		}
		return -1
	}
	return -1
}

// certNames are the names SNI selects the certificate by: the DNS and IP
// subject alternative names, or the subject CN when it has neither (as
// browsers ignore the CN when there are SANs).
func certNames(leaf *x509.Certificate) []string {
	var names []string
	for _, n := range leaf.DNSNames {
		names = append(names, strings.ToLower(strings.TrimSuffix(n, ".")))
	}
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = append(names, strings.ToLower(leaf.Subject.CommonName))
	}
	return names
}

func subject(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return "CN=" + c.Subject.CommonName
	}
	return c.Subject.String()
}

// days writes a duration to expiry for a human: "3 days", "20 hours".
func days(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	return fmt.Sprintf("%d hours", int(d/time.Hour))
}
