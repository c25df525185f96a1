package codec

import (
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// llhttpCases are request heads codec and Node's HTTP parser (llhttp, in
// Node's default strict mode) must judge alike. differ names the reason when
// they knowingly do not: the test then checks they still differ, so the
// note stays true.
var llhttpCases = []struct {
	head   string
	differ string
}{
	{head: "GET / HTTP/1.1\r\nHost: h\r\n\r\n"},
	{head: "GET /a?b=c HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n"},
	{head: "GET / HTTP/1.0\r\n\r\n"},
	{head: "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"},
	{head: "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX-A:\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX-A: \t 1 \t\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\xc3\xa9\r\n\r\n"},
	{head: "GET http://h/p?q HTTP/1.1\r\nHost: h\r\n\r\n"},
	{head: "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"},
	{head: "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"},
	{head: chromeHead},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\n Host: h\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost : h\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX-A 1\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\n: 1\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: 1\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX(A): 1\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fb\r\n\r\n"},
	{head: "GET / HTTP/2.0\r\nHost: h\r\n\r\n", differ: "llhttp parses HTTP/2.0 as HTTP/1 syntax; codec speaks only HTTP/1.x (400)"},
	{head: "GET / HTTP/0.9\r\nHost: h\r\n\r\n", differ: "llhttp takes an HTTP/0.9 version; codec speaks only HTTP/1.x"},
	{head: "GET /\r\n\r\n", differ: "llhttp takes an HTTP/0.9 simple request; codec speaks only HTTP/1.x"},
	{head: "GET / http/1.1\r\nHost: h\r\n\r\n"},
	{head: "GET / HTTP/1.2\r\nHost: h\r\n\r\n"},
	{head: "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", differ: "llhttp skips extra SP in the request line (RFC 9112 3 MAY); codec wants exactly one"},
	{head: "FOO / HTTP/1.1\r\nHost: h\r\n\r\n", differ: "llhttp knows a fixed list of methods; any token is a method to codec (RFC 9110 9.1)"},
	{head: "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"},
	{head: "GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n"},
	{head: "GET a HTTP/1.1\r\nHost: h\r\n\r\n"},
	{head: "GET /a\"b<c>{d}|e\\f^g`h#i HTTP/1.1\r\nHost: h\r\n\r\n", differ: "llhttp parses a #fragment; RFC 9112 3.2 has none in a request-target, codec refuses it (400)"},
	{head: "GET /a\"b<c>{d}|e\\f^g`h HTTP/1.1\r\nHost: h\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX-A: \x80\xff\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x0bb\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n", differ: "RFC 9112 3.2: a server MUST answer 400 to more than one Host; llhttp lets it through"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", differ: "RFC 9110 8.6 lets a recipient take repeated identical Content-Length values as one (TestRequestBodyOf wants that); llhttp refuses"},
	{head: "GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n"},
	{head: "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"},
	{head: "GET / HTTP/1.1 x\r\nHost: h\r\n\r\n"},
	{head: "GET / HTTP/1.1\r\nX: y\r\n\r\n"},
	{head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"},
	{head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"},
	{head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n"},
	{head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n"},
	{head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"},
	{head: "GET / HTTP/1.1\nHost: h\n\n", differ: "bare LF line ends: RFC 9112 2.2 lets a recipient accept them; llhttp refuses"},
}

// codecVerdict is what the gateway does with head: accept, or refuse with
// 400 (the parser or the body framing), or wait for more.
func codecVerdict(head string) string {
	req, n, err := ParseRequestHead([]byte(head), 16384)
	switch {
	case err != nil:
		return "refuse"
	case n == 0:
		return "timeout"
	}
	if _, _, err := RequestBodyOf(req); err != nil {
		return "refuse"
	}
	return "accept"
}

func TestRequestHeadsAgreeWithLlhttp(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	heads := make([]string, len(llhttpCases))
	for i, c := range llhttpCases {
		heads[i] = base64.StdEncoding.EncodeToString([]byte(c.head))
	}
	in, _ := json.Marshal(heads)
	cmd := exec.Command(node, "testdata/llhttp-verdicts.js")
	cmd.Stdin = strings.NewReader(string(in))
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var verdicts []string
	if err := json.Unmarshal(out, &verdicts); err != nil || len(verdicts) != len(llhttpCases) {
		t.Fatalf("node printed %q: %v", out, err)
	}
	for i, c := range llhttpCases {
		node, _, _ := strings.Cut(verdicts[i], ":")
		ours := codecVerdict(c.head)
		switch {
		case c.differ == "" && ours != node:
			t.Errorf("%q: codec %s, llhttp %s", c.head, ours, verdicts[i])
		case c.differ != "" && ours == node:
			t.Errorf("%q: codec and llhttp both %s now; drop the note %q", c.head, ours, c.differ)
		}
	}
}
