package loadgen

import (
	"strings"
	"testing"
)

// The runbook's report must not say "opened 0, failed 0" when generator
// reports are missing: it names the missing ones (or says none came back).
func TestMillionReportNamesMissingGeneratorReports(t *testing.T) {
	series := []WatchSample{{AtSec: 0}, {AtSec: 2, Held: 3000, GatewayRSSKB: 3000}}
	in := MillionInput{Series: series, Target: 3000, Nodes: 1, GenProcs: 3, Cores: 2,
		Gens: []Result{{Proc: 1, Connect: &ConnectResult{Opened: 1000}}}}
	r, err := BuildMillion(in, "", "")
	if err != nil {
		t.Fatal(err)
	}
	md := r.Markdown()
	if r.GenReports != 1 || len(r.MissingGens) != 2 || !strings.Contains(md, "Generator reports: 1 of 3 (missing: proc 0, 2") {
		t.Errorf("one of three reports: got %d reports, missing %v, markdown:\n%s", r.GenReports, r.MissingGens, md)
	}
	in.Gens = nil
	r, _ = BuildMillion(in, "", "")
	md = r.Markdown()
	if strings.Contains(md, "Opened 0") || !strings.Contains(md, "No generator report came back (0 of 3)") {
		t.Errorf("no report: markdown says:\n%s", md)
	}
}
