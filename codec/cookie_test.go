package codec

import (
	"testing"
)

func TestCookies(t *testing.T) {
	r := &Request{Headers: []HeaderField{{"Cookie", "a=1; SERVERID=s2; b=2"}}}
	if v := CookieValue(r, "SERVERID"); v != "s2" {
		t.Fatalf("CookieValue = %q", v)
	}
	if v := RemoveCookie("a=1; SERVERID=s2; b=2", "SERVERID"); v != "a=1; b=2" {
		t.Fatalf("RemoveCookie = %q", v)
	}
	if v := RemoveCookie("SERVERID=s2", "SERVERID"); v != "" {
		t.Fatalf("RemoveCookie = %q", v)
	}
}

// TestCookieAgreed: a cookie name repeated, in one Cookie header or across
// several, is only trusted when every occurrence carries the same value.
func TestCookieAgreed(t *testing.T) {
	for _, c := range []struct {
		headers []HeaderField
		value   string
		agreed  bool
	}{
		{[]HeaderField{{"Cookie", "a=1; jwt=x"}}, "x", true},
		{[]HeaderField{{"Cookie", "jwt=x; jwt=x"}}, "x", true},
		{[]HeaderField{{"Cookie", `jwt="x"`}, {"cookie", "jwt=x"}}, "x", true},
		{[]HeaderField{{"Cookie", "jwt=x; jwt=y"}}, "x", false},
		{[]HeaderField{{"Cookie", "jwt=x"}, {"COOKIE", "b=2; jwt=y"}}, "x", false},
		{[]HeaderField{{"Cookie", "jwt=; jwt=y"}}, "", false},
		{[]HeaderField{{"Cookie", "a=1"}}, "", true},
	} {
		r := &Request{Headers: c.headers}
		if v, ok := CookieAgreed(r, "jwt"); v != c.value || ok != c.agreed {
			t.Errorf("%v: CookieAgreed = %q, %v; want %q, %v", c.headers, v, ok, c.value, c.agreed)
		}
	}
	r := &Request{Headers: []HeaderField{{"Authorization", "a"}, {"X", "y"}, {"authorization", "b"}}}
	if n := r.HeaderCount("Authorization"); n != 2 {
		t.Errorf("HeaderCount = %d, want 2", n)
	}
}
