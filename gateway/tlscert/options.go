package tlscert

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Options are the TLS flags, as gateway.Config carries them.
type Options struct {
	Listen     string   // -tls-listen: TLS client listener, [HOST]:PORT; "" = none
	Certs      []string // -tls-cert values, CERT.pem[,KEY.pem] each; the first is the default
	MinVersion string   // -tls-min-version: "1.2" or "1.3"
}

// Enabled reports whether a TLS listener is configured.
func (o Options) Enabled() bool { return o.Listen != "" }

// Validate returns every problem of the TLS flags, reading and checking
// every certificate pair (even without -tls-listen, so -check finds a bad
// file before the listener is turned on).
func (o Options) Validate() error {
	_, err := o.Check(time.Now())
	return err
}

// Check validates as Validate does, at now, and also returns the warnings:
// certificates that expire within ExpiryWarning, a name served by two pairs,
// certificates given with no -tls-listen to serve them.
func (o Options) Check(now time.Time) (warnings []string, err error) {
	var errs []error
	if o.Listen != "" {
		if _, _, err := net.SplitHostPort(o.Listen); err != nil {
			errs = append(errs, fmt.Errorf("-tls-listen: %q: want [HOST]:PORT", o.Listen))
		}
		if len(o.Certs) == 0 {
			errs = append(errs, errors.New("-tls-listen: needs at least one -tls-cert CERT.pem[,KEY.pem]"))
		}
	} else if len(o.Certs) > 0 {
		warnings = append(warnings, "-tls-cert: given without -tls-listen: the certificates are checked but not served")
	}
	if _, err := o.minVersion(); err != nil {
		errs = append(errs, err)
	}
	pairs, err := o.pairs()
	if err != nil {
		errs = append(errs, err)
	} else if len(pairs) > 0 {
		set, err := load(pairs, now)
		if err != nil {
			errs = append(errs, err)
		} else {
			warnings = append(warnings, set.warnings...)
		}
	}
	return warnings, errors.Join(errs...)
}

// Plan describes what TLS would serve, for -check: one line for the
// listener and one per pair. It assumes Check found no error.
func (o Options) Plan(now time.Time) []string {
	if o.Listen == "" && len(o.Certs) == 0 {
		return nil
	}
	listen := "off"
	if o.Listen != "" {
		listen = o.Listen
	}
	minV, _ := o.minVersion()
	lines := []string{fmt.Sprintf("tls listen %s, min version %s, alpn http/1.1, session ticket keys rotate every %v", listen,
		strings.TrimPrefix(tls.VersionName(minV), "TLS "), TicketKeyInterval)}
	pairs, _ := o.pairs()
	set, err := load(pairs, now)
	if err != nil {
		return lines
	}
	for i, l := range set.pairs {
		def := ""
		if i == 0 {
			def = " (default)"
		}
		leaf := l.chain[0]
		lines = append(lines, fmt.Sprintf("tls cert %s%s: names %s; %s key; chain of %d; not after %s; issuer %s",
			l.pair, def, strings.Join(l.names, ","), leaf.PublicKeyAlgorithm, len(l.chain),
			leaf.NotAfter.UTC().Format(time.RFC3339), leaf.Issuer))
	}
	return lines
}

func (o Options) minVersion() (uint16, error) {
	switch o.MinVersion {
	case "1.2", "":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("-tls-min-version: %q: want 1.2 or 1.3", o.MinVersion)
}

func (o Options) pairs() ([]Pair, error) {
	var pairs []Pair
	var errs []error
	for _, spec := range o.Certs {
		p, err := ParsePair(spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pairs = append(pairs, p)
	}
	return pairs, errors.Join(errs...)
}
