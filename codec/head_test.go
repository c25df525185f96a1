package codec

import (
	"errors"
	"strings"
	"testing"
)

// One grammar: every field section gets the same verdict in a request head
// and in a response head.
func TestHeadGrammarSharedByRequestAndResponse(t *testing.T) {
	tests := []struct {
		name   string
		fields string // between the start line (and the request's Host) and the empty line
		ok     bool
	}{
		{name: "plain", fields: "X-A: 1\r\n", ok: true},
		{name: "no fields", fields: "", ok: true},
		{name: "empty value", fields: "X-A:\r\n", ok: true},
		{name: "OWS around value", fields: "X-A: \t 1 \t\r\n", ok: true},
		{name: "HTAB inside value", fields: "X-A: a\tb\r\n", ok: true},
		{name: "obs-text in value", fields: "X-A: caf\xc3\xa9\r\n", ok: true},
		{name: "bare LF line ends", fields: "X-A: 1\nX-B: 2\n", ok: true},
		{name: "every tchar in the name", fields: "!#$%&'*+-.^_`|~09azAZ: v\r\n", ok: true},
		{name: "obs-fold", fields: "X-A: 1\r\n 2\r\n"},
		{name: "HTAB fold", fields: "X-A: 1\r\n\t2\r\n"},
		{name: "space before colon", fields: "X-A : 1\r\n"},
		{name: "no colon", fields: "X-A 1\r\n"},
		{name: "empty name", fields: ": 1\r\n"},
		{name: "separator in name", fields: "X(A): 1\r\n"},
		{name: "non-ASCII name", fields: "X-\xc3\xa9: 1\r\n"},
		{name: "NUL in value", fields: "X-A: a\x00b\r\n"},
		{name: "DEL in value", fields: "X-A: a\x7fb\r\n"},
		{name: "ESC in value", fields: "X-A: \x1b[31m\r\n"},
		{name: "bare CR in value", fields: "X-A: a\rb\r\n"},
		{name: "bare CR as line end", fields: "X-A: 1\rX-B: 2\r\n"},
		{name: "CR CR LF", fields: "X-A: 1\r\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reqHead := "GET / HTTP/1.1\r\nHost: h\r\n" + tc.fields + "\r\n"
			_, n, err := ParseRequestHead([]byte(reqHead), 4096)
			var he *HTTPError
			if tc.ok != (err == nil && n == len(reqHead)) || (!tc.ok && (!errors.As(err, &he) || he.Status != 400)) {
				t.Errorf("request: (%d, %v), want ok=%v", n, err, tc.ok)
			}
			respHead := "HTTP/1.1 200 OK\r\n" + tc.fields + "\r\n"
			_, n, err = ParseResponseHead([]byte(respHead), 4096)
			if tc.ok != (err == nil && n == len(respHead)) || (!tc.ok && !errors.Is(err, ErrBadResponse)) {
				t.Errorf("response: (%d, %v), want ok=%v", n, err, tc.ok)
			}
		})
	}
}

func TestStatusLine(t *testing.T) {
	tests := []struct {
		line          string
		minor, status int
		reason        string
		ok            bool
	}{
		{line: "HTTP/1.1 200 OK", minor: 1, status: 200, reason: "OK", ok: true},
		{line: "HTTP/1.0 503 Service Unavailable\r\n", status: 503, reason: "Service Unavailable", ok: true},
		{line: "HTTP/1.1 404 \r\n", minor: 1, status: 404, ok: true},
		{line: "HTTP/1.1 204\n", minor: 1, status: 204, ok: true}, // no SP: accepted, see checkStatusLine
		{line: "HTTP/1.1 200 caf\xc3\xa9 \tok", minor: 1, status: 200, reason: "caf\xc3\xa9 \tok", ok: true},
		{line: "HTTP/1.1 599 x", minor: 1, status: 599, reason: "x", ok: true},
		{line: "HTTP/1.1 600 x"},
		{line: "HTTP/1.1 099 x"},
		{line: "HTTP/1.1 20 OK"},
		{line: "HTTP/1.1 2000 OK"},
		{line: "HTTP/1.1 200OK"},
		{line: "HTTP/1.1 20x OK"},
		{line: "HTTP/1.1  200 OK"},
		{line: "HTTP/2 200"},
		{line: "HTTP/2.0 200 OK"},
		{line: "http/1.1 200 OK"},
		{line: "SSH-2.0-OpenSSH"},
		{line: "HTTP/1.1 200 O\x00K"},
		{line: "HTTP/1.1 200 O\rK"},
		{line: "HTTP/1.1 200 OK\n\n"},
		{line: ""},
	}
	for _, tc := range tests {
		minor, status, reason, err := ParseStatusLine([]byte(tc.line))
		if tc.ok != (err == nil) || minor != tc.minor || status != tc.status || reason != tc.reason {
			t.Errorf("ParseStatusLine(%q) = %d %d %q %v, want ok=%v", tc.line, minor, status, reason, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadResponse) {
			t.Errorf("ParseStatusLine(%q): %v is not an ErrBadResponse", tc.line, err)
		}
		// The same line starts a response head, with the same verdict.
		if tc.line == "" || strings.ContainsAny(tc.line, "\r\n") {
			continue
		}
		r, _, err := ParseResponseHead([]byte(tc.line+"\r\n\r\n"), 4096)
		if tc.ok != (err == nil) || (err == nil && (r.Status != tc.status || r.Reason != tc.reason || r.ProtoMinor != tc.minor)) {
			t.Errorf("ParseResponseHead(%q) = %+v %v, want ok=%v", tc.line, r, err, tc.ok)
		}
	}
}

func TestHeadLimits(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n"
	if _, n, err := ParseRequestHeadLimits([]byte(head), 4096, 3); err != nil || n != len(head) {
		t.Fatalf("3 fields, limit 3: (%d, %v)", n, err)
	}
	if _, _, err := ParseRequestHeadLimits([]byte(head), 4096, 2); err != ErrTooManyFields {
		t.Fatalf("3 fields, limit 2: %v, want ErrTooManyFields", err)
	}
	// Refused as soon as the field over the limit is complete.
	if _, _, err := ParseRequestHeadLimits([]byte("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC"), 4096, 2); err != ErrTooManyFields {
		t.Fatalf("incomplete head over the limit: %v, want ErrTooManyFields", err)
	}
	resp := "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n"
	if _, _, err := ParseResponseHeadLimits([]byte(resp), 4096, 1); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("response over the field limit: %v", err)
	}
	if _, _, err := ParseResponseHead([]byte(resp), len(resp)-1); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("response over the byte limit: %v", err)
	}
	if r, n, err := ParseResponseHead([]byte(resp), len(resp)); err != nil || n != len(resp) || r.Header("b") != "2" {
		t.Fatalf("response of exactly the byte limit: %+v %d %v", r, n, err)
	}
}

func TestAppendHeader(t *testing.T) {
	if got := string(AppendHeader([]byte("x"), "Name", "v a")); got != "xName: v a\r\n" {
		t.Fatalf("AppendHeader = %q", got)
	}
}
