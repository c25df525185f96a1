package metrics

import "testing"

func TestMetricCloseLabel(t *testing.T) {
	for code, want := range map[int]string{
		0: "none", 1000: "1000", 1001: "1001", 1002: "1002", 1003: "1003", 1004: "other", 1005: "other",
		1006: "other", 1007: "1007", 1008: "1008", 1009: "1009", 1010: "1010", 1011: "1011", 1012: "1012",
		1013: "1013", 1014: "1014", 1015: "other", 1016: "other", 2999: "other", 3000: "3xxx", 3999: "3xxx",
		4000: "4xxx", 4321: "4xxx", 4999: "4xxx", 5000: "other", 999: "other",
	} {
		if got := CloseLabel(code); got != want {
			t.Errorf("CloseLabel(%d) = %q, want %q", code, got, want)
		}
	}
}
