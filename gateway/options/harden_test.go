package options

import (
	"strings"
	"testing"
	"time"
)

// The WebSocket-path limits of issue 11: their defaults, and the values -check refuses.
func TestHardenFlags(t *testing.T) {
	o, err := Parse(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MessageTimeout != 30*time.Second || cfg.MaxInflateRatio != 100 {
		t.Errorf("defaults: -message-timeout %v, -max-inflate-ratio %d; want 30s and 100", cfg.MessageTimeout, cfg.MaxInflateRatio)
	}
	for _, c := range []struct{ args []string }{
		{[]string{"-message-timeout", "10ms"}},
		{[]string{"-max-inflate-ratio", "-1"}},
	} {
		o, err := Parse(c.args, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Config(); err == nil || !strings.Contains(err.Error(), c.args[0]) {
			t.Errorf("%q: %v, want an error naming %s", c.args, err, c.args[0])
		}
	}
}
