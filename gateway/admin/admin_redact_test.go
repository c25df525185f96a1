package admin

import (
	"slices"
	"testing"
)

func TestAdminRedactArgs(t *testing.T) {
	secrets := []string{"tok", "ops:pw", "pw"}
	for _, c := range []struct{ in, want []string }{
		{[]string{"wsgate", "-publish-token", "tok", "-listen", ":80"}, []string{"wsgate", "-publish-token", redacted, "-listen", ":80"}},
		{[]string{"wsgate", "--publish-token=tok"}, []string{"wsgate", "--publish-token=" + redacted}},
		{[]string{"wsgate", "-stats-auth=ops:pw", "-x"}, []string{"wsgate", "-stats-auth=" + redacted, "-x"}},
		{[]string{"wsgate", "--stats-auth", "ops:pw"}, []string{"wsgate", "--stats-auth", redacted}},
		// A secret's value anywhere else (here the argument of another flag) is replaced too.
		{[]string{"wsgate", "-route", "/pw=topic:x"}, []string{"wsgate", "-route", redacted}},
		{[]string{"wsgate", "-publish-token"}, []string{"wsgate", "-publish-token"}},
		// The HS256 secret of -jwt-key (and a JWKS URL, which may carry credentials).
		{[]string{"wsgate", "-jwt-key", "hs256:c2VjcmV0", "-jwt-key=hs256:b3RoZXI="}, []string{"wsgate", "-jwt-key", redacted, "-jwt-key=" + redacted}},
		{[]string{"wsgate", "--jwt-jwks", "https://u:p@idp/jwks"}, []string{"wsgate", "--jwt-jwks", redacted}},
	} {
		if got := redactArgs(c.in, secrets); !slices.Equal(got, c.want) {
			t.Errorf("redactArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
