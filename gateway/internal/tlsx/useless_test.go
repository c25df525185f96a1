package tlsx

import (
	"crypto/tls"
	"errors"
	"testing"
)

// Records without data are served 16 in a row, as crypto/tls does, then
// refused with unexpected_message: an endless run of KeyUpdate
// (update_requested) made the server queue an answer record for each.
func TestUselessRecordsCapped(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		suite := uint16(tls.TLS_AES_128_GCM_SHA256)
		if v == tls.VersionTLS12 {
			suite = tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
		}
		kinds := map[string]func(cli *Conn) []byte{
			"empty application data": func(cli *Conn) []byte { b, _ := cli.seal(nil, typeApplicationData, nil); return b },
		}
		if v == tls.VersionTLS13 {
			kinds["KeyUpdate"] = func(cli *Conn) []byte {
				b, _ := cli.seal(nil, typeHandshake, []byte{handshakeTypeKeyUpdate, 0, 0, 1, keyUpdateRequested})
				cli.out.update13(cli.suite)
				return b
			}
		} else {
			kinds["warning alert"] = func(cli *Conn) []byte {
				b, _ := cli.seal(nil, typeAlert, []byte{alertLevelWarning, alertNoRenegotiation})
				return b
			}
		}
		for name, useless := range kinds {
			srv, cli := pair(t, v, suite, 7)
			feed := func(b []byte) ([]byte, error) { plain, _, err := srv.Feed(nil, b); return plain, err }
			for i := range maxUselessRecords {
				if _, err := feed(useless(cli)); err != nil {
					t.Fatalf("%s %s %d: %v", tls.VersionName(v), name, i, err)
				}
			}
			// Data in between starts the count again.
			data, _ := cli.Seal(nil, []byte("x"))
			if plain, err := feed(data); err != nil || string(plain) != "x" {
				t.Fatalf("%s %s: data %q, %v", tls.VersionName(v), name, plain, err)
			}
			var all []byte
			for range maxUselessRecords + 1 {
				all = append(all, useless(cli)...)
			}
			_, out, err := srv.Feed(nil, all)
			var ae *AlertError
			if !errors.As(err, &ae) || ae.Remote || ae.Alert != alertUnexpectedMessage || len(out) == 0 {
				t.Fatalf("%s %s: %d in a row: %v, want unexpected_message", tls.VersionName(v), name, maxUselessRecords+1, err)
			}
		}
	}
}
