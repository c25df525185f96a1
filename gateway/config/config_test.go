package config

import (
	"slices"
	"testing"
)

// A reload applies routing and reports the start-only settings it cannot.
func TestRestartOnly(t *testing.T) {
	a := Config{Listen: ":8080", EventLoops: 2, Compression: true}
	b := a
	b.Routing.Routes = []string{"/x=topic:x"} // applied by a reload: not reported
	if got := RestartOnly(&a, &b); len(got) != 0 {
		t.Fatalf("routing change reported as restart-only: %q", got)
	}
	b.Listen, b.Compression = ":9090", false
	if got, want := RestartOnly(&a, &b), []string{"-listen", "-compression"}; !slices.Equal(got, want) {
		t.Fatalf("RestartOnly = %q, want %q", got, want)
	}
}
