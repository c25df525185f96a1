package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/gateway"
	"github.com/wsgate/wsgate/gateway/options"
)

// -listen "" with -tls-listen: a gateway with the TLS listener only serves the page over https.
// (Started by hand: the harness waits for a plain listener.)
func TestTLSOnlyListener(t *testing.T) {
	pki := newTestPKI(t)
	spec, _ := pki.leaf(t, "localhost", "localhost", "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := []string{"-listen", "", "-admin-listen", "", "-tls-listen", addr, "-tls-cert", spec, "-drain-time", "1s"}
	o, err := options.Parse(args, func(string) (string, bool) { return "", false })
	if o == nil {
		t.Fatal(err)
	}
	cfg, cerr := o.Config()
	if err = errors.Join(err, cerr); err != nil {
		t.Fatalf("wsgate %q: %v", args, err)
	}
	logs := &tailBuffer{max: 64 << 10}
	log := slog.New(slog.NewTextHandler(logs, nil))
	reg := prometheus.NewRegistry()
	gw, err := gateway.New(cfg, o.NewBus(log, reg), log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(runStopWait):
			t.Errorf("Run did not return")
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	}()
	awaitTCP(t, addr)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.clientConfig("localhost")}}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("GET page over https: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET / over the TLS-only listener: %d", resp.StatusCode)
	}
}
