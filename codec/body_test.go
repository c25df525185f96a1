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
	}
	for i, c := range cases {
		kind, n, err := RequestBodyOf(&Request{Headers: c.headers})
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
		{200, false, []HeaderField{{"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}}, 0, 0, true},
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
