package codec

import (
	"errors"
	"testing"
)

func TestRequestBodyOf(t *testing.T) {
	cases := []struct {
		headers []HeaderField
		kind    BodyKind
		n       int64
		bad     bool
	}{
		{nil, BodyNone, 0, false},
		{[]HeaderField{{"Content-Length", "10"}}, BodyLength, 10, false},
		{[]HeaderField{{"Content-Length", "0"}}, BodyNone, 0, false},
		{[]HeaderField{{"Transfer-Encoding", "chunked"}}, BodyChunked, 0, false},
		{[]HeaderField{{"Transfer-Encoding", "gzip, chunked"}}, BodyChunked, 0, false},
		{[]HeaderField{{"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}}, 0, 0, true},
		{[]HeaderField{{"Transfer-Encoding", "gzip"}}, 0, 0, true},
		{[]HeaderField{{"Content-Length", "3"}, {"Content-Length", "4"}}, 0, 0, true},
		{[]HeaderField{{"Content-Length", "3"}, {"Content-Length", "3"}}, BodyLength, 3, false},
		{[]HeaderField{{"Content-Length", "-1"}}, 0, 0, true},
		{[]HeaderField{{"Content-Length", "+1"}}, 0, 0, true},
		{[]HeaderField{{"Content-Length", "1 2"}}, 0, 0, true},
		// issue 11 item 5: what llhttp refuses must not be forwarded
		{[]HeaderField{{"Content-Length", "-0"}}, 0, 0, true},
		{[]HeaderField{{"Content-Length", "0x5"}}, 0, 0, true},
		{[]HeaderField{{"Content-Length", "99999999999999999999"}}, 0, 0, true},
		{[]HeaderField{{"Content-Length", "005"}}, BodyLength, 5, false},
		{[]HeaderField{{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}, 0, 0, true},
		{[]HeaderField{{"Transfer-Encoding", "chunked, chunked"}}, 0, 0, true},
		{[]HeaderField{{"Transfer-Encoding", "chunked, gzip, chunked"}}, 0, 0, true},
	}
	for i, c := range cases {
		kind, n, err := RequestBodyOf(&Request{ProtoMinor: 1, Headers: c.headers})
		if c.bad {
			var he *HTTPError
			if !errors.As(err, &he) || he.Status != 400 {
				t.Errorf("case %d: err %v, want a 400", i, err)
			}
			continue
		}
		if err != nil || kind != c.kind || n != c.n {
			t.Errorf("case %d: %v %d %v, want %v %d", i, kind, n, err, c.kind, c.n)
		}
	}
}

func TestResponseBody(t *testing.T) {
	cases := []struct {
		status  int
		head    bool
		headers []HeaderField
		kind    BodyKind
		n       int64
		bad     bool
	}{
		{200, false, nil, BodyUntilClose, 0, false},
		{200, false, []HeaderField{{"Content-Length", "5"}}, BodyLength, 5, false},
		{200, false, []HeaderField{{"Content-Length", "0"}}, BodyNone, 0, false},
		{200, false, []HeaderField{{"Transfer-Encoding", "chunked"}}, BodyChunked, 0, false},
		{200, false, []HeaderField{{"Transfer-Encoding", "gzip"}}, BodyUntilClose, 0, false},
		{200, true, []HeaderField{{"Content-Length", "5"}}, BodyNone, 0, false},
		{204, false, nil, BodyNone, 0, false},
		{304, false, []HeaderField{{"Content-Length", "5"}}, BodyNone, 0, false},
		{101, false, nil, BodyNone, 0, false},
		{200, false, []HeaderField{{"Content-Length", "5"}, {"Content-Length", "5"}}, BodyLength, 5, false},
		{200, false, []HeaderField{{"Content-Length", "5"}, {"Content-Length", "6"}}, 0, 0, true},
		{200, false, []HeaderField{{"Content-Length", "5x"}}, 0, 0, true},
		{200, false, []HeaderField{{"Content-Length", "-5"}}, 0, 0, true},
		// issue 11 item 4: Transfer-Encoding wins over Content-Length
		// (RFC 9112 6.3(3); AppendClientResponseHead drops the latter)
		{200, false, []HeaderField{{"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}}, BodyChunked, 0, false},
		{200, false, []HeaderField{{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}, BodyChunked, 0, false},
		{200, false, []HeaderField{{"Content-Length", "-0"}}, 0, 0, true},
		{200, false, []HeaderField{{"Transfer-Encoding", "chunked, chunked"}}, 0, 0, true},
	}
	for i, c := range cases {
		r := &Response{Status: c.status, ProtoMinor: 1, Headers: c.headers}
		kind, n, err := ResponseBody(c.head, r)
		if c.bad {
			if !errors.Is(err, ErrBadResponse) {
				t.Errorf("case %d: (%v, %d, %v), want an ErrBadResponse", i, kind, n, err)
			}
			if k, _ := ResponseBodyOf(c.head, r); k != BodyUntilClose {
				t.Errorf("case %d: ResponseBodyOf %v, want BodyUntilClose as before", i, k)
			}
			continue
		}
		if err != nil || kind != c.kind || n != c.n {
			t.Errorf("case %d: (%v, %d, %v), want (%v, %d)", i, kind, n, err, c.kind, c.n)
		}
		if k, m := ResponseBodyOf(c.head, r); k != kind || m != n {
			t.Errorf("case %d: ResponseBodyOf (%v, %d), ResponseBody (%v, %d)", i, k, m, kind, n)
		}
	}
}

// TestRequestBodyOfHTTP10 is issue 11 item 5: Transfer-Encoding in an
// HTTP/1.0 request is faulty framing (RFC 9112 6.1), refused with 400.
func TestRequestBodyOfHTTP10(t *testing.T) {
	for _, hs := range [][]HeaderField{
		{{"Transfer-Encoding", "chunked"}},
		{{"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}},
	} {
		_, _, err := RequestBodyOf(&Request{ProtoMinor: 0, Headers: hs})
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != 400 {
			t.Errorf("%v on HTTP/1.0: err %v, want a 400", hs, err)
		}
	}
	if k, n, err := RequestBodyOf(&Request{ProtoMinor: 0, Headers: []HeaderField{{"Content-Length", "5"}}}); err != nil || k != BodyLength || n != 5 {
		t.Errorf("Content-Length on HTTP/1.0: %v %d %v", k, n, err)
	}
}
