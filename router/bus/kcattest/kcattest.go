// Package kcattest runs Debian's kcat (librdkafka) from tests, as an outside
// Kafka client that checks the wire format the bus writes and reads. The bus
// tests and the gateway's cluster tests share it.
package kcattest

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// timeout bounds one kcat run: a consumer with -e stops at the end of the
// topic, a producer once its stdin is sent.
const timeout = 20 * time.Second

// Path returns kcat's path, failing (not skipping) when it is missing: a
// silently skipped wire-format check would turn a broken setup green.
func Path(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (%v): run `make test` (test-deps installs Debian's kcat) or apt-get install -y kcat", err)
	}
	return p
}

// Run runs kcat with args and stdin, and returns its stdout; a failure or a
// run over 20 s fails the test with kcat's stderr.
func Run(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Path(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
