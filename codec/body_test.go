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
