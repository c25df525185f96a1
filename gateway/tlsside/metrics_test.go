package tlsside

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/gateway/tlscert"
)

func TestTLSCertCollector(t *testing.T) {
	soon, later := time.Unix(1900000000, 0), time.Unix(2000000000, 0)
	certs := []tlscert.CertInfo{
		{Name: "a.example.com", NotAfter: later},
		{Name: "*.example.org", NotAfter: later},
		{Name: "a.example.com", NotAfter: soon}, // the RSA twin of the first: the earlier expiry is reported
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newCertCollector(func() []tlscert.CertInfo { return certs }))
	gather := func() string {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				lines = append(lines, fmt.Sprintf("%s{%s=%q} %v", mf.GetName(), m.GetLabel()[0].GetName(), m.GetLabel()[0].GetValue(), m.GetGauge().GetValue()))
			}
		}
		return strings.Join(lines, "\n")
	}
	want := `wsgate_tls_cert_expiry_timestamp_seconds{name="*.example.org"} 2e+09
wsgate_tls_cert_expiry_timestamp_seconds{name="a.example.com"} 1.9e+09`
	if got := gather(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// A reload is seen at the next scrape.
	certs = certs[:1]
	if got, want := gather(), `wsgate_tls_cert_expiry_timestamp_seconds{name="a.example.com"} 2e+09`; got != want {
		t.Errorf("after reload got\n%s\nwant\n%s", got, want)
	}
}
