package codec

import "testing"

// A server decodes parameter names: ?%74oken= is its token parameter, so the
// gateway must read it (to compare it with the header) and strip it too.
func TestQueryParamNameDecoded(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"token=a", "a"},
		{"%74oken=forged&x=1", "forged"},
		{"%74%6F%6B%65%6E=forged", "forged"},
		{"x=1&tok%65n=f%2Bg", "f+g"},
		{"tokens=a", ""},
	} {
		if got := QueryParam(c.raw, "token"); got != c.want {
			t.Errorf("QueryParam(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
	for _, c := range []struct{ raw, want string }{
		{"%74oken=forged&x=1", "/p?x=1"},
		{"token=a&%74OKEN=b&tok%65n=c", "/p?%74OKEN=b"},
		{"a=1&%74oken", "/p?a=1"},
	} {
		if got, _ := StripQueryParam("/p", c.raw, "token"); got != c.want {
			t.Errorf("StripQueryParam(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
	for _, c := range []struct {
		raw string
		bad bool
	}{{"token=a", false}, {"%74oken=a", false}, {"x=%zz", false}, {"%zzoken=a", true}, {"a=1&%7=b", true}} {
		if got := BadQueryParamName(c.raw); got != c.bad {
			t.Errorf("BadQueryParamName(%q) = %v, want %v", c.raw, got, c.bad)
		}
	}
}

// The rest of StripQueryParam's contract: an empty or emptied query leaves
// the bare path, an undecodable name is kept, and a value that does not
// decode is returned as sent.
func TestStripQueryParamEdges(t *testing.T) {
	for _, c := range []struct{ raw, target, query string }{
		{"", "/p", ""},
		{"token=a", "/p", ""},
		{"token=a&token=b", "/p", ""},
		{"%zz=1&token=a", "/p?%zz=1", "%zz=1"},
		{"a=1&b=2", "/p?a=1&b=2", "a=1&b=2"},
	} {
		if target, query := StripQueryParam("/p", c.raw, "token"); target != c.target || query != c.query {
			t.Errorf("StripQueryParam(%q) = %q, %q; want %q, %q", c.raw, target, query, c.target, c.query)
		}
	}
	if got := QueryParam("token=%zz", "token"); got != "%zz" {
		t.Errorf("undecodable value: %q, want it as sent", got)
	}
}
