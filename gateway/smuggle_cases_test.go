package gateway_test

// The table of the differential request-smuggling suite (smuggle_e2e_test.go): request variants from
// the published classes (CL.TE, TE.CL, TE.TE, CL.0, 0.CL, chunk-size and chunk-extension tricks,
// header-name and whitespace tricks, obs-fold, bare CR/LF, pipelining behind upgrades and 1xx,
// absolute-form and Host, Connection-listed framing headers). Each case says, per RFC 9112, what a
// proxy may do with it: forward it exactly as the client framed it, refuse it, or either.
//
// The gateway under test routes /app/ to the recorder, serves its page on /page, has a topic route
// /topic (a plain GET there is refused 426) and answers 404 elsewhere.

import (
	"fmt"
	"strconv"
	"strings"
)

// smPolicy is what RFC 9112 allows a proxy to do with a case.
type smPolicy uint8

const (
	mustForward smPolicy = iota // a valid message: forwarded exactly as framed (refusing it fails too)
	mayRefuse                   // forwarding exactly as framed and refusing are both safe
	mustRefuse                  // malformed in a way RFC 9112 says to reject (400/501/505)
)

// wantReq is one request the backend must parse: method, target (or one of altTargets), the body
// bytes after transfer decoding, whether it is an upgrade, and an optional check of its headers.
type wantReq struct {
	method, target string
	altTargets     []string
	body           string
	upgrade        bool
	check          func(smRecord) string
}

// smuggleCase is one row of the table.
type smuggleCase struct {
	name, class string
	expect      string // the expected outcome in words: what RFC 9112 says and HAProxy does
	smPolicy    smPolicy
	raw         string // the bytes the client sends, in one write
	// want is what the backend must parse if the proxy forwards (for mustRefuse: what legitimately
	// comes before the request to refuse). alt lists other complete outcomes that are also correct
	// (e.g. a request the gateway answers itself but another proxy forwards).
	want   []wantReq
	alt    [][]wantReq
	tunnel string // bytes the backend must receive after a 101 (pipelined behind an upgrade)
}

func (c smuggleCase) wants() [][]wantReq { return append([][]wantReq{c.want}, c.alt...) }

const (
	smHost      = "Host: smuggle.test\r\n"
	smInnocent  = "GET /app/innocent HTTP/1.1\r\n" + smHost + "\r\n"
	smSmuggled  = "GET /app/SMUGGLED HTTP/1.1\r\n" + smHost + "\r\n"
	smLastChunk = "0\r\n\r\n"
)

var (
	wInnocent = wantReq{method: "GET", target: "/app/innocent"}
	wSmuggled = wantReq{method: "GET", target: "/app/SMUGGLED"}
)

// smHead builds a request head: the request line, Host, the given header lines, the empty line.
func smHead(line string, headers ...string) string {
	s := line + "\r\n" + smHost
	for _, h := range headers {
		s += h + "\r\n"
	}
	return s + "\r\n"
}

func smChunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

func smCL(s string) string { return "Content-Length: " + strconv.Itoa(len(s)) }

func smReq(method, target, body string) wantReq {
	return wantReq{method: method, target: target, body: body}
}

func smPost(body string) wantReq { return smReq("POST", "/app/a", body) }

// smHeaderIs checks that the backend saw exactly one header name with value v.
func smHeaderIs(name, v string) func(smRecord) string {
	return func(r smRecord) string {
		if got := r.header(name); len(got) != 1 || got[0] != v {
			return fmt.Sprintf("%s %q, want exactly %q", name, got, v)
		}
		return ""
	}
}

// smAppendedBy127 checks that the list header name ends with the proxy's own element for the client
// (127.0.0.1): a client-sent value may stay in front of it but must not be the last word. With
// absentOK, no header at all also passes (the proxy stripped the client's).
func smAppendedBy127(name string, absentOK bool) func(smRecord) string {
	return func(r smRecord) string {
		vals := r.header(name)
		if len(vals) == 0 {
			if absentOK {
				return ""
			}
			return name + " missing"
		}
		all := strings.Split(strings.Join(vals, ","), ",")
		if last := strings.TrimSpace(all[len(all)-1]); !strings.Contains(last, "127.0.0.1") {
			return fmt.Sprintf("%s %q: the client's value is the last element, the proxy did not append its own", name, vals)
		}
		return ""
	}
}

func smVersionIs(v string) func(smRecord) string {
	return func(r smRecord) string {
		if r.Version != v {
			return fmt.Sprintf("HTTP/%s, want HTTP/%s", r.Version, v)
		}
		return ""
	}
}

func smuggleCases() []smuggleCase {
	var cs []smuggleCase
	add := func(c smuggleCase) { cs = append(cs, c) }
	te := "Transfer-Encoding: chunked"
	hello := smChunk("hello") + smLastChunk
	// A request body that is itself a complete request: what a desync would make the backend run.
	smuggledBody := "GPOST /app/SMUGGLED HTTP/1.1\r\n" + smHost + "Content-Length: 15\r\n\r\nx=1"

	// --- baselines: the harness itself
	add(smuggleCase{name: "baseline-get", class: "baseline", smPolicy: mustForward, expect: "forward both",
		raw: smHead("GET /app/a HTTP/1.1") + smInnocent, want: []wantReq{smReq("GET", "/app/a", ""), wInnocent}})
	add(smuggleCase{name: "baseline-post-cl", class: "baseline", smPolicy: mustForward, expect: "forward both",
		raw: smHead("POST /app/a HTTP/1.1", smCL("hello")) + "hello" + smInnocent, want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "baseline-post-chunked", class: "baseline", smPolicy: mustForward, expect: "forward both",
		raw:  smHead("POST /app/a HTTP/1.1", te) + smChunk("hello") + smChunk(" world") + smLastChunk + smInnocent,
		want: []wantReq{smPost("hello world"), wInnocent}})
	add(smuggleCase{name: "pipeline-three", class: "baseline", smPolicy: mustForward, expect: "forward all three",
		raw:  smHead("GET /app/1 HTTP/1.1") + smHead("GET /app/2 HTTP/1.1") + smInnocent,
		want: []wantReq{smReq("GET", "/app/1", ""), smReq("GET", "/app/2", ""), wInnocent}})

	// --- CL.TE and TE.CL: both framing headers (RFC 9112 6.1: reject, or TE wins with CL removed and
	// the connection closed after the response; HAProxy: TE wins, CL removed)
	clte := smLastChunk + "G"
	add(smuggleCase{name: "cl-te-classic", class: "CL.TE", smPolicy: mayRefuse, expect: "400, or TE wins and close",
		raw:  smHead("POST /app/a HTTP/1.1", smCL(clte), te) + clte + smInnocent,
		want: []wantReq{smPost(""), smReq("GGET", "/app/innocent", "")}})
	clte2 := smLastChunk + smSmuggled
	add(smuggleCase{name: "cl-te-full-request", class: "CL.TE", smPolicy: mayRefuse, expect: "400, or TE wins and close",
		raw:  smHead("POST /app/a HTTP/1.1", smCL(clte2), te) + clte2 + smInnocent,
		want: []wantReq{smPost(""), wSmuggled, wInnocent}})
	add(smuggleCase{name: "te-cl-order", class: "CL.TE", smPolicy: mayRefuse, expect: "400, or TE wins and close",
		raw:  smHead("POST /app/a HTTP/1.1", te, smCL(clte2)) + clte2 + smInnocent,
		want: []wantReq{smPost(""), wSmuggled, wInnocent}})
	add(smuggleCase{name: "cl-te-cl-zero", class: "CL.TE", smPolicy: mayRefuse, expect: "400, or TE wins and close",
		raw:  smHead("POST /app/a HTTP/1.1", "Content-Length: 0", te) + hello + smInnocent,
		want: []wantReq{smPost("hello"), wInnocent}})
	tecl := smChunk(smuggledBody) + smLastChunk
	add(smuggleCase{name: "te-cl-classic", class: "TE.CL", smPolicy: mayRefuse, expect: "400, or TE wins and close",
		raw:  smHead("POST /app/a HTTP/1.1", "Content-Length: 4", te) + tecl + smInnocent,
		want: []wantReq{smPost(smuggledBody), wInnocent}})
	add(smuggleCase{name: "te-cl-lowercase", class: "TE.CL", smPolicy: mayRefuse, expect: "400, or TE wins and close",
		raw:  smHead("POST /app/a HTTP/1.1", "content-length: 4", "transfer-encoding: chunked") + tecl + smInnocent,
		want: []wantReq{smPost(smuggledBody), wInnocent}})
	add(smuggleCase{name: "te-cl-invalid-cl", class: "TE.CL", smPolicy: mustRefuse, expect: "400 (invalid Content-Length)",
		raw: smHead("POST /app/a HTTP/1.1", "Content-Length: abc", te) + hello + smInnocent})

	// --- TE.TE: obfuscated Transfer-Encoding (RFC 9112 6.3: chunked not final in a request → 400;
	// an unknown coding → 501; OWS around the value is fine)
	add(smuggleCase{name: "te-xchunked", class: "TE.TE", smPolicy: mustRefuse, expect: "400/501 (chunked is not final)",
		raw: smHead("POST /app/a HTTP/1.1", "Transfer-Encoding: xchunked") + hello + smInnocent})
	add(smuggleCase{name: "te-xchunked-with-cl", class: "TE.TE", smPolicy: mustRefuse, expect: "400/501 (chunked is not final)",
		raw: smHead("POST /app/a HTTP/1.1", "Transfer-Encoding: xchunked", smCL(hello)) + hello + smInnocent})
	for _, v := range []struct{ name, line string }{
		{"te-extra-spaces", "Transfer-Encoding:   chunked"},
		{"te-tab-value", "Transfer-Encoding:\tchunked"},
		{"te-trailing-ws", "Transfer-Encoding: chunked \t"},
		{"te-no-space", "Transfer-Encoding:chunked"},
		{"te-uppercase", "TRANSFER-ENCODING: CHUNKED"},
	} {
		add(smuggleCase{name: v.name, class: "TE.TE", smPolicy: mustForward, expect: "forward chunked (valid OWS/case)",
			raw: smHead("POST /app/a HTTP/1.1", v.line) + hello + smInnocent, want: []wantReq{smPost("hello"), wInnocent}})
	}
	add(smuggleCase{name: "te-space-before-colon", class: "TE.TE", smPolicy: mustRefuse, expect: "400 (RFC 9112 5.1)",
		raw: smHead("POST /app/a HTTP/1.1", "Transfer-Encoding : chunked") + hello + smInnocent})
	add(smuggleCase{name: "te-tab-before-colon", class: "TE.TE", smPolicy: mustRefuse, expect: "400 (RFC 9112 5.1)",
		raw: smHead("POST /app/a HTTP/1.1", "Transfer-Encoding\t: chunked") + hello + smInnocent})
	// obs-fold: RFC 9112 5.2 lets a proxy refuse it (400) or replace it with SP before interpreting
	// the field; forwarding it folded is the hole.
	add(smuggleCase{name: "te-obs-fold-line", class: "obs-fold", smPolicy: mayRefuse,
		expect: "400, or unfold (X-Pad: \"1 Transfer-Encoding: chunked\", no body; then 400 on the chunk bytes)",
		raw:    smHead("POST /app/a HTTP/1.1", "X-Pad: 1", " Transfer-Encoding: chunked") + hello + smInnocent,
		want:   []wantReq{smPost("")}})
	add(smuggleCase{name: "te-obs-fold-value", class: "obs-fold", smPolicy: mayRefuse, expect: "400, or unfold to chunked",
		raw:  smHead("POST /app/a HTTP/1.1", "Transfer-Encoding:", " chunked") + hello + smInnocent,
		want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "cl-obs-fold-value", class: "obs-fold", smPolicy: mayRefuse, expect: "400, or unfold to Content-Length: 5",
		raw:  smHead("POST /app/a HTTP/1.1", "Content-Length:", "\t5") + "hello" + smInnocent,
		want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "te-duplicate-chunked", class: "TE.TE", smPolicy: mayRefuse, expect: "400 (chunked twice), or decode once",
		raw: smHead("POST /app/a HTTP/1.1", te, te) + hello + smInnocent, want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "te-chunked-chunked-list", class: "TE.TE", smPolicy: mayRefuse, expect: "400 (chunked twice), or decode once",
		raw:  smHead("POST /app/a HTTP/1.1", "Transfer-Encoding: chunked, chunked") + hello + smInnocent,
		want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "te-chunked-then-x", class: "TE.TE", smPolicy: mustRefuse, expect: "400 (chunked is not final)",
		raw: smHead("POST /app/a HTTP/1.1", te, "Transfer-Encoding: x") + hello + smInnocent})
	add(smuggleCase{name: "te-x-then-chunked", class: "TE.TE", smPolicy: mayRefuse, expect: "501 (unknown coding), or forward chunked",
		raw:  smHead("POST /app/a HTTP/1.1", "Transfer-Encoding: x", te) + hello + smInnocent,
		want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "te-identity", class: "TE.TE", smPolicy: mustRefuse, expect: "400/501 (identity is gone; chunked not final)",
		raw: smHead("POST /app/a HTTP/1.1", "Transfer-Encoding: identity", "Content-Length: 5") + "hello" + smInnocent})
	add(smuggleCase{name: "te-identity-chunked", class: "TE.TE", smPolicy: mayRefuse, expect: "501 (unknown coding), or forward chunked",
		raw:  smHead("POST /app/a HTTP/1.1", "Transfer-Encoding: identity, chunked") + hello + smInnocent,
		want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "te-gzip-chunked", class: "TE.TE", smPolicy: mayRefuse, expect: "forward chunked (or 501)",
		raw:  smHead("POST /app/a HTTP/1.1", "Transfer-Encoding: gzip, chunked") + hello + smInnocent,
		want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "te-quoted", class: "TE.TE", smPolicy: mustRefuse, expect: "400/501 (\"chunked\" is not chunked)",
		raw: smHead("POST /app/a HTTP/1.1", `Transfer-Encoding: "chunked"`) + hello + smInnocent})
	add(smuggleCase{name: "te-trailing-comma", class: "TE.TE", smPolicy: mayRefuse, expect: "400, or chunked (empty list element)",
		raw:  smHead("POST /app/a HTTP/1.1", "Transfer-Encoding: chunked,") + hello + smInnocent,
		want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "te-vertical-tab", class: "TE.TE", smPolicy: mustRefuse, expect: "400 (control character)",
		raw: smHead("POST /app/a HTTP/1.1", "Transfer-Encoding: \x0bchunked") + hello + smInnocent})
	add(smuggleCase{name: "te-nul", class: "TE.TE", smPolicy: mustRefuse, expect: "400 (NUL)",
		raw: smHead("POST /app/a HTTP/1.1", "Transfer-Encoding: chunked\x00") + hello + smInnocent})
	add(smuggleCase{name: "te-header-not-transfer-encoding", class: "TE.TE", smPolicy: mayRefuse,
		expect: "TE is no framing header: bodyless POST, then the chunk bytes are a bad request → 400",
		raw:    smHead("POST /app/a HTTP/1.1", "TE: chunked") + hello + smInnocent,
		want:   []wantReq{smPost("")}})
	add(smuggleCase{name: "te-http10", class: "TE.TE", smPolicy: mustRefuse, expect: "400 (TE in HTTP/1.0: faulty framing, RFC 9112 6.1)",
		raw: "POST /app/a HTTP/1.0\r\n" + smHost + te + "\r\n\r\n" + hello})
	add(smuggleCase{name: "te-http10-with-cl", class: "TE.TE", smPolicy: mustRefuse, expect: "400 (TE in HTTP/1.0: faulty framing, RFC 9112 6.1)",
		raw: "POST /app/a HTTP/1.0\r\n" + smHost + te + "\r\n" + smCL(hello) + "\r\n\r\n" + hello})

	// --- Content-Length value and name tricks (RFC 9112 6.3(5): invalid → 400; identical duplicates
	// may be merged, never forwarded twice)
	for _, v := range []struct{ name, line string }{
		{"cl-plus", "Content-Length: +5"},
		{"cl-minus-zero", "Content-Length: -0"},
		{"cl-negative", "Content-Length: -5"},
		{"cl-hex", "Content-Length: 0x5"},
		{"cl-space-before-colon", "Content-Length : 5"},
		{"cl-tab-before-colon", "Content-Length\t: 5"},
		{"cl-overflow", "Content-Length: 99999999999999999999"},
		{"cl-empty", "Content-Length:"},
		{"cl-differing-duplicate", "Content-Length: 5\r\nContent-Length: 6"},
		{"cl-differing-list", "Content-Length: 5, 6"},
		{"cl-inner-space", "Content-Length: 5 5"},
		{"cl-trailing-garbage", "Content-Length: 5x"},
	} {
		add(smuggleCase{name: v.name, class: "CL", smPolicy: mustRefuse, expect: "400 (invalid Content-Length)",
			raw: smHead("POST /app/a HTTP/1.1", v.line) + "hello" + smInnocent})
	}
	add(smuggleCase{name: "cl-leading-zeros", class: "CL", smPolicy: mayRefuse, expect: "forward (1*DIGIT), or 400",
		raw: smHead("POST /app/a HTTP/1.1", "Content-Length: 005") + "hello" + smInnocent, want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "cl-tab-ows", class: "CL", smPolicy: mustForward, expect: "forward (OWS)",
		raw: smHead("POST /app/a HTTP/1.1", "Content-Length:\t5\t") + "hello" + smInnocent, want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "cl-identical-duplicate", class: "CL", smPolicy: mayRefuse, expect: "400, or merge into one (never forward both)",
		raw:  smHead("POST /app/a HTTP/1.1", "Content-Length: 5", "Content-Length: 5") + "hello" + smInnocent,
		want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "cl-identical-list", class: "CL", smPolicy: mayRefuse, expect: "400, or merge into one",
		raw: smHead("POST /app/a HTTP/1.1", "Content-Length: 5, 5") + "hello" + smInnocent, want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "cl-underscore-name", class: "CL", smPolicy: mayRefuse, expect: "Content_Length is no framing header: 3 requests",
		raw:  smHead("POST /app/a HTTP/1.1", "Content_Length: "+strconv.Itoa(len(smSmuggled))) + smSmuggled + smInnocent,
		want: []wantReq{smPost(""), wSmuggled, wInnocent}})

	// --- 0.CL: a body where a front might assume none
	add(smuggleCase{name: "0cl-get-with-body", class: "0.CL", smPolicy: mustForward, expect: "forward GET with its body",
		raw:  smHead("GET /app/a HTTP/1.1", smCL(smSmuggled)) + smSmuggled + smInnocent,
		want: []wantReq{smReq("GET", "/app/a", smSmuggled), wInnocent}})
	add(smuggleCase{name: "0cl-options-with-body", class: "0.CL", smPolicy: mustForward, expect: "forward OPTIONS with its body",
		raw:  smHead("OPTIONS /app/a HTTP/1.1", smCL(smSmuggled)) + smSmuggled + smInnocent,
		want: []wantReq{smReq("OPTIONS", "/app/a", smSmuggled), wInnocent}})
	add(smuggleCase{name: "0cl-cl-zero-pipelined", class: "0.CL", smPolicy: mustForward, expect: "3 requests",
		raw:  smHead("POST /app/a HTTP/1.1", "Content-Length: 0") + smSmuggled + smInnocent,
		want: []wantReq{smPost(""), wSmuggled, wInnocent}})

	// --- CL.0: a body on a request the gateway answers itself must not become the next request
	// (RFC 9112 6.3: the body is part of the message; read and discard it, or close)
	cl0 := func(name, line, expect string) {
		target := strings.Fields(line)[1]
		method := strings.Fields(line)[0]
		add(smuggleCase{name: name, class: "CL.0", smPolicy: mayRefuse, expect: expect,
			raw:  smHead(line, smCL(smSmuggled)) + smSmuggled + smInnocent,
			want: []wantReq{wInnocent}, alt: [][]wantReq{{smReq(method, target, smSmuggled), wInnocent}}})
	}
	cl0("cl0-page", "GET /page HTTP/1.1", "serve the page, discard the body (or close)")
	cl0("cl0-404", "GET /nothere HTTP/1.1", "404, discard the body or close")
	cl0("cl0-405-refusal", "POST /page HTTP/1.1", "405, close")
	cl0("cl0-426-topic", "GET /topic HTTP/1.1", "426, close")
	// No Host in the smuggled head: the victim's request line becomes X-Glue's value and its own
	// headers (Host, cookies) complete the attacker's request.
	partial := "GET /app/SMUGGLED HTTP/1.1\r\nX-Glue: "
	add(smuggleCase{name: "cl0-page-glue-victim", class: "CL.0", smPolicy: mayRefuse,
		expect: "serve the page, discard the body (or close); the next request must not be glued into a smuggled one",
		raw:    smHead("GET /page HTTP/1.1", smCL(partial)) + partial + smInnocent,
		want:   []wantReq{wInnocent}, alt: [][]wantReq{{smReq("GET", "/page", partial), wInnocent}}})
	add(smuggleCase{name: "cl0-page-chunked", class: "CL.0", smPolicy: mayRefuse, expect: "serve the page, discard the body (or close)",
		raw:  smHead("GET /page HTTP/1.1", te) + smChunk(smSmuggled) + smLastChunk + smInnocent,
		want: []wantReq{wInnocent}, alt: [][]wantReq{{smReq("GET", "/page", smSmuggled), wInnocent}}})

	// --- chunk-size and chunk-extension tricks (RFC 9112 7.1)
	chunked := func(name, pol, expect, body, decoded string) {
		p := map[string]smPolicy{"forward": mustForward, "either": mayRefuse, "refuse": mustRefuse}[pol]
		c := smuggleCase{name: name, class: "chunked", smPolicy: p, expect: expect,
			raw: smHead("POST /app/a HTTP/1.1", te) + body + smInnocent}
		if p != mustRefuse {
			c.want = []wantReq{smPost(decoded), wInnocent}
		}
		add(c)
	}
	chunked("chunk-leading-zeros", "forward", "forward (1*HEXDIG)", "0005\r\nhello\r\n0\r\n\r\n", "hello")
	chunked("chunk-uppercase-hex", "forward", "forward", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789")
	chunked("chunk-ext-token", "forward", "forward (chunk-ext)", "5;name=value\r\nhello\r\n0;x=y\r\n\r\n", "hello")
	chunked("chunk-ext-quoted", "either", "forward (quoted chunk-ext), or 400", "5;a=\"b;c\"\r\nhello\r\n0\r\n\r\n", "hello")
	chunked("chunk-trailer", "forward", "forward (trailer field)", "5\r\nhello\r\n0\r\nX-Trailer: v\r\n\r\n", "hello")
	chunked("chunk-trailer-content-length", "either", "forward (a trailer cannot frame), or 400",
		"5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n", "hello")
	chunked("chunk-size-overflow-2^64", "refuse", "400 (size overflows 64 bits)", "10000000000000000\r\nhello\r\n0\r\n\r\n", "")
	chunked("chunk-size-huge", "refuse", "400 (size too large)", "ffffffffffffffff\r\nhello\r\n0\r\n\r\n", "")
	chunked("chunk-size-negative", "refuse", "400", "-5\r\nhello\r\n0\r\n\r\n", "")
	chunked("chunk-size-0x", "refuse", "400", "0x5\r\nhello\r\n0\r\n\r\n", "")
	chunked("chunk-size-empty", "refuse", "400", "\r\nhello\r\n0\r\n\r\n", "")
	chunked("chunk-size-trailing-space", "either", "400 (no BWS without ';'), or forward if the backend agrees",
		"5 \r\nhello\r\n0\r\n\r\n", "hello")
	chunked("chunk-ext-lf-in-quotes", "refuse", "400 (LF inside chunk-ext)", "5;a=\"x\ny\"\r\nhello\r\n0\r\n\r\n", "")
	chunked("chunk-ext-bare-cr", "refuse", "400 (bare CR)", "5;a\rb\r\nhello\r\n0\r\n\r\n", "")
	chunked("chunk-lf-only", "either", "400, or forward if the backend agrees (bare LF line ends)", "5\nhello\n0\n\n", "hello")
	chunked("chunk-data-no-crlf", "refuse", "400 (no CRLF after chunk data)", "5\r\nhelloXX0\r\n\r\n", "")
	chunked("chunk-data-too-long", "refuse", "400 (chunk longer than its size)", "3\r\nhello\r\n0\r\n\r\n", "")
	// The last chunk without its final CRLF: the next request's lines would be read as trailer fields.
	add(smuggleCase{name: "chunk-missing-final-crlf", class: "chunked", smPolicy: mustRefuse,
		expect: "400 (the request line that follows is no trailer field)",
		raw:    smHead("POST /app/a HTTP/1.1", te) + "5\r\nhello\r\n0\r\n" + smInnocent})

	// --- header-name, whitespace, bare CR/LF
	add(smuggleCase{name: "bare-cr-in-value", class: "bare CR/LF", smPolicy: mustRefuse, expect: "400 (bare CR)",
		raw: smHead("POST /app/a HTTP/1.1", "X-A: a\rTransfer-Encoding: chunked") + hello + smInnocent})
	add(smuggleCase{name: "bare-cr-before-colon", class: "bare CR/LF", smPolicy: mustRefuse, expect: "400 (bare CR)",
		raw: smHead("POST /app/a HTTP/1.1", "Transfer-Encoding\r: chunked") + hello + smInnocent})
	add(smuggleCase{name: "bare-lf-head", class: "bare CR/LF", smPolicy: mayRefuse, expect: "forward (LF may end a line, RFC 9112 2.2), or 400",
		raw:  "POST /app/a HTTP/1.1\nHost: smuggle.test\nContent-Length: 5\n\nhello" + smInnocent,
		want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "bare-lf-te-line", class: "bare CR/LF", smPolicy: mayRefuse, expect: "forward chunked (LF ends the X-A line), or 400",
		raw:  smHead("POST /app/a HTTP/1.1", "X-A: a\nTransfer-Encoding: chunked") + hello + smInnocent,
		want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "nul-in-name", class: "header name", smPolicy: mustRefuse, expect: "400",
		raw: smHead("POST /app/a HTTP/1.1", "X-A\x00: b", "Content-Length: 5") + "hello" + smInnocent})
	add(smuggleCase{name: "name-without-colon", class: "header name", smPolicy: mustRefuse, expect: "400",
		raw: smHead("POST /app/a HTTP/1.1", "Transfer-Encoding chunked") + hello + smInnocent})
	add(smuggleCase{name: "space-in-name", class: "header name", smPolicy: mustRefuse, expect: "400",
		raw: smHead("POST /app/a HTTP/1.1", "Transfer Encoding: chunked") + hello + smInnocent})
	add(smuggleCase{name: "empty-name", class: "header name", smPolicy: mustRefuse, expect: "400",
		raw: smHead("POST /app/a HTTP/1.1", ": chunked", "Content-Length: 5") + "hello" + smInnocent})
	add(smuggleCase{name: "request-line-double-space", class: "request line", smPolicy: mayRefuse,
		expect: "400, or split on whitespace (RFC 9112 3)",
		raw:    "GET  /app/a HTTP/1.1\r\n" + smHost + "\r\n" + smInnocent, want: []wantReq{smReq("GET", "/app/a", ""), wInnocent}})
	add(smuggleCase{name: "pipeline-bad-second", class: "request line", smPolicy: mustRefuse,
		expect: "forward the first, 400 on the second",
		raw:    smHead("GET /app/1 HTTP/1.1") + smHead("POST /app/2 HTTP/1.1", "Content-Length : 5") + "hello" + smInnocent,
		want:   []wantReq{smReq("GET", "/app/1", "")}})

	// --- Connection naming framing and forwarding headers (RFC 9112 6.3 frames as received; issue 11 item 1)
	add(smuggleCase{name: "connection-content-length", class: "Connection", smPolicy: mayRefuse,
		expect: "Content-Length is kept: one POST with its body",
		raw:    smHead("POST /app/a HTTP/1.1", "Connection: Content-Length", smCL(smSmuggled)) + smSmuggled + smInnocent,
		want:   []wantReq{smPost(smSmuggled), wInnocent}})
	add(smuggleCase{name: "connection-transfer-encoding", class: "Connection", smPolicy: mayRefuse,
		expect: "Transfer-Encoding is kept: one POST with its body",
		raw:    smHead("POST /app/a HTTP/1.1", "Connection: Transfer-Encoding", te) + smChunk(smSmuggled) + smLastChunk + smInnocent,
		want:   []wantReq{smPost(smSmuggled), wInnocent}})
	add(smuggleCase{name: "connection-host", class: "Connection", smPolicy: mayRefuse, expect: "Host is kept",
		raw:  smHead("GET /app/a HTTP/1.1", "Connection: Host") + smInnocent,
		want: []wantReq{{method: "GET", target: "/app/a", check: smHeaderIs("Host", "smuggle.test")}, wInnocent}})
	add(smuggleCase{name: "connection-x-forwarded-for", class: "Connection", smPolicy: mayRefuse,
		expect: "X-Forwarded-For still ends with the proxy's view of the client",
		raw:    smHead("GET /app/a HTTP/1.1", "X-Forwarded-For: 10.6.6.6", "Connection: X-Forwarded-For") + smInnocent,
		want:   []wantReq{{method: "GET", target: "/app/a", check: smAppendedBy127("X-Forwarded-For", false)}, wInnocent}})

	// --- absolute-form, Host, version, fragment, Forwarded (issue 11 items 3 and 5)
	add(smuggleCase{name: "absolute-form-host-mismatch", class: "absolute-form", smPolicy: mayRefuse,
		expect: "400, or Host replaced by the target's authority (RFC 9112 3.2.2)",
		raw:    "GET http://internal.example/app/x HTTP/1.1\r\n" + smHost + "\r\n" + smInnocent,
		want: []wantReq{{method: "GET", target: "/app/x", altTargets: []string{"http://internal.example/app/x"},
			check: smHeaderIs("Host", "internal.example")}, wInnocent}})
	add(smuggleCase{name: "absolute-form-host-match", class: "absolute-form", smPolicy: mustForward, expect: "forward",
		raw:  "GET http://smuggle.test/app/x HTTP/1.1\r\n" + smHost + "\r\n" + smInnocent,
		want: []wantReq{{method: "GET", target: "/app/x", altTargets: []string{"http://smuggle.test/app/x"}}, wInnocent}})
	add(smuggleCase{name: "host-invalid", class: "Host", smPolicy: mustRefuse, expect: "400 (invalid Host)",
		raw: "GET /app/a HTTP/1.1\r\nHost: a b/c@d\r\n\r\n" + smInnocent})
	add(smuggleCase{name: "host-missing", class: "Host", smPolicy: mustRefuse, expect: "400 (HTTP/1.1 without Host)",
		raw: "GET /app/a HTTP/1.1\r\n\r\n" + smInnocent})
	add(smuggleCase{name: "host-duplicate", class: "Host", smPolicy: mustRefuse, expect: "400 (two Host fields)",
		raw: smHead("GET /app/a HTTP/1.1", "Host: other.test") + smInnocent})
	add(smuggleCase{name: "version-1.2", class: "version", smPolicy: mayRefuse, expect: "505, or handled as HTTP/1.1 (RFC 9110 2.5)",
		raw:  "GET /app/a HTTP/1.2\r\n" + smHost + "\r\n" + smInnocent,
		want: []wantReq{{method: "GET", target: "/app/a", check: smVersionIs("1.1")}, wInnocent}})
	add(smuggleCase{name: "version-2.0-text", class: "version", smPolicy: mustRefuse, expect: "400/505",
		raw: "GET /app/a HTTP/2.0\r\n" + smHost + "\r\n" + smInnocent})
	add(smuggleCase{name: "fragment-in-target", class: "request line", smPolicy: mustRefuse, expect: "400 (# is not in request-target)",
		raw: smHead("GET /app/a#frag HTTP/1.1") + smInnocent})
	add(smuggleCase{name: "client-forwarded", class: "forwarding", smPolicy: mustForward,
		expect: "Forwarded stripped, or the proxy's element appended",
		raw:    smHead("GET /app/a HTTP/1.1", "Forwarded: for=10.6.6.6;host=admin.internal") + smInnocent,
		want:   []wantReq{{method: "GET", target: "/app/a", check: smAppendedBy127("Forwarded", true)}, wInnocent}})

	// --- pipelining behind an upgrade and behind 1xx
	upg := func(target string) string {
		return smHead("GET "+target+" HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13")
	}
	add(smuggleCase{name: "upgrade-101-pipelined", class: "upgrade", smPolicy: mustForward,
		expect: "after the 101 the pipelined bytes are tunnel data, not a request",
		raw:    upg("/app/ws-ok") + smSmuggled,
		want:   []wantReq{{method: "GET", target: "/app/ws-ok", upgrade: true}}, tunnel: smSmuggled})
	add(smuggleCase{name: "upgrade-refused-pipelined", class: "upgrade", smPolicy: mayRefuse,
		expect: "the backend's 426 ends the upgrade; the next request is a request, not tunnel data",
		raw:    upg("/app/ws-no") + smInnocent,
		want:   []wantReq{{method: "GET", target: "/app/ws-no", upgrade: true}, wInnocent}})
	add(smuggleCase{name: "upgrade-h2c-pipelined", class: "upgrade", smPolicy: mayRefuse,
		expect: "no WebSocket upgrade: a plain GET, then the next request",
		raw: smHead("GET /app/a HTTP/1.1", "Upgrade: h2c", "Connection: Upgrade, HTTP2-Settings", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA") +
			smInnocent,
		want: []wantReq{smReq("GET", "/app/a", ""), wInnocent},
		alt:  [][]wantReq{{{method: "GET", target: "/app/a", upgrade: true}, wInnocent}}})
	add(smuggleCase{name: "expect-100-pipelined", class: "1xx", smPolicy: mustForward, expect: "100 then 200, then the next request",
		raw:  smHead("POST /app/a HTTP/1.1", "Expect: 100-continue", smCL("hello")) + "hello" + smInnocent,
		want: []wantReq{smPost("hello"), wInnocent}})
	add(smuggleCase{name: "expect-100-request-body", class: "1xx", smPolicy: mustForward, expect: "the body stays a body",
		raw:  smHead("POST /app/a HTTP/1.1", "Expect: 100-continue", smCL(smSmuggled)) + smSmuggled + smInnocent,
		want: []wantReq{smPost(smSmuggled), wInnocent}})
	add(smuggleCase{name: "expect-100-chunked", class: "1xx", smPolicy: mustForward, expect: "the body stays a body",
		raw:  smHead("POST /app/a HTTP/1.1", "Expect: 100-continue", te) + smChunk(smSmuggled) + smLastChunk + smInnocent,
		want: []wantReq{smPost(smSmuggled), wInnocent}})
	return cs
}
