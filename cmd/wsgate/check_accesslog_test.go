package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckAccessLogErrors: -check reports every bad access-log or
// request-ID setting as an [ALERT] line naming the flag.
func TestCheckAccessLogErrors(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"-access-log-format", "xml"}, []string{`[ALERT] -access-log-format: "xml": want json or text`}},
		{[]string{"-access-log-sample", "0"}, []string{`[ALERT] -access-log-sample: 0 must be at least 1 (1 logs every record)`}},
		{[]string{"-request-id-trusted", "10.0.0.0/8,10.0.0.0/33"}, []string{`[ALERT] -request-id-trusted: "10.0.0.0/33": want CIDR (10.0.0.0/8) or address`}},
		{[]string{"-request-id-trusted", "localhost"}, []string{`[ALERT] -request-id-trusted: "localhost": want CIDR (10.0.0.0/8) or address`}},
		{[]string{"-request-id-header", "X Request"}, []string{`[ALERT] -request-id-header: "X Request" is not a valid header name`}},
		{[]string{"-access-log", "/nonexistent-wsgate-dir/logs/access.log"},
			[]string{`[ALERT] -access-log: /nonexistent-wsgate-dir/logs/access.log: cannot create in /nonexistent-wsgate-dir/logs: no such file or directory`}},
		{[]string{"-access-log", t.TempDir()}, []string{`[ALERT] -access-log: `, `: is a directory`}},
		// Every problem is reported, not just the first, with the others'.
		{[]string{"-access-log-format", "yaml", "-access-log-sample", "-5", "-max-header-bytes", "10"}, []string{
			`[ALERT] -access-log-format: "yaml": want json or text`,
			`[ALERT] -access-log-sample: -5 must be at least 1`,
			`[ALERT] -max-header-bytes: 10 is too small (minimum 512)`}},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(append([]string{"-check"}, c.args...), &out, &errOut)
		if code != 1 {
			t.Errorf("%q: exit %d, want 1 (stderr %q)", c.args, code, errOut.String())
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(errOut.String(), w) {
				t.Errorf("%q: stderr lacks %q:\n%s", c.args, w, errOut.String())
			}
		}
	}
}

func TestCheckAccessLogFromEnv(t *testing.T) {
	t.Setenv("WSGATE_ACCESS_LOG_FORMAT", "csv")
	var out, errOut bytes.Buffer
	if code := run([]string{"-check"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), `[ALERT] -access-log-format: "csv": want json or text`) {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestCheckAccessLogValid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	for _, args := range [][]string{
		{"-access-log", path, "-access-log-format", "text", "-access-log-sample", "100",
			"-request-id-header", "X-Correlation-Id", "-request-id-trusted", "10.0.0.0/8, 192.0.2.1,::1/128"},
		{"-access-log", "stdout", "-request-id-header", ""},
		{"-access-log", "off"},
	} {
		var out, errOut bytes.Buffer
		if code := run(append([]string{"-check"}, args...), &out, &errOut); code != 0 {
			t.Errorf("%q: exit %d: %s", args, code, errOut.String())
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("-check created the access log file")
	}
}
