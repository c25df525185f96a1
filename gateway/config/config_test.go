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
	b = a
	b.ResumeRate = 1 << 20 // read once, when the resume state is built
	if got := RestartOnly(&a, &b); len(got) != 1 || got[0] != "-resume-max-messages / -resume-kafka-fetches / -resume-kafka-timeout / -resume-rate" {
		t.Fatalf("RestartOnly after -resume-rate changed = %q", got)
	}
}
