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
