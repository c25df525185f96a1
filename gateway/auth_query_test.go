package gateway

import "testing"

// A server decodes parameter names: ?%74oken= is its token parameter, so the
// gateway must read it (to compare it with the header) and strip it too.
func TestAuthQueryTokenNameDecoded(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"token=a", "a"},
		{"%74oken=forged&x=1", "forged"},
		{"%74%6F%6B%65%6E=forged", "forged"},
		{"x=1&tok%65n=f%2Bg", "f+g"},
		{"tokens=a", ""},
	} {
		if got := queryParam(c.raw, "token"); got != c.want {
			t.Errorf("queryParam(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
	for _, c := range []struct{ raw, want string }{
		{"%74oken=forged&x=1", "/p?x=1"},
		{"token=a&%74OKEN=b&tok%65n=c", "/p?%74OKEN=b"},
		{"a=1&%74oken", "/p?a=1"},
	} {
		if got, _ := stripToken("/p", c.raw); got != c.want {
			t.Errorf("stripToken(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
	for _, c := range []struct {
		raw string
		bad bool
	}{{"token=a", false}, {"%74oken=a", false}, {"x=%zz", false}, {"%zzoken=a", true}, {"a=1&%7=b", true}} {
		if got := badParamName(c.raw); got != c.bad {
			t.Errorf("badParamName(%q) = %v, want %v", c.raw, got, c.bad)
		}
	}
}
