package loadgen

import (
	"math/rand/v2"
	"sort"
	"testing"
)

func TestHistogramIndexRoundTrip(t *testing.T) {
	// Every value must land in a bucket whose upper bound is ≥ the value and
	// within the advertised relative error.
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 12345, 1 << 20, 1<<40 + 7, 1 << 46} {
		i := histIndex(v)
		up := histUpper(i)
		if up < v {
			t.Errorf("value %d: bucket %d upper %d below the value", v, i, up)
		}
		if v >= histSubCount && float64(up-v) > float64(v)/histHalf {
			t.Errorf("value %d: bucket %d upper %d: error above 1/%d", v, i, up, histHalf)
		}
		if i > 0 && histUpper(i-1) >= v {
			t.Errorf("value %d: previous bucket %d already covers it (upper %d)", v, i-1, histUpper(i-1))
		}
	}
	for i := 1; i < histBuckets; i++ {
		if histUpper(i) <= histUpper(i-1) {
			t.Fatalf("bucket upper bounds not increasing at %d: %d then %d", i, histUpper(i-1), histUpper(i))
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	h := NewHistogram()
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = int64(r.ExpFloat64() * 1e6) // latency-like: ns, mean 1 ms
		h.Record(vals[i])
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	if h.Count() != uint64(len(vals)) {
		t.Fatalf("count %d, want %d", h.Count(), len(vals))
	}
	if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] {
		t.Fatalf("min/max %d/%d, want %d/%d", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[max(int(q*float64(len(vals)))-1, 0)]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/histHalf+1 {
			t.Errorf("q%.3f: got %d, exact %d (allowed +%.1f%%)", q, got, exact, 100.0/histHalf)
		}
	}
}

func TestHistogramMergeAndEmpty(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	if a.Quantile(0.99) != 0 || a.Max() != 0 || a.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	for v := int64(1); v <= 100; v++ {
		a.Record(v)
		b.Record(v + 100)
	}
	a.Merge(b)
	a.Merge(NewHistogram())
	if a.Count() != 200 || a.Min() != 1 || a.Max() != 200 {
		t.Fatalf("merged count/min/max %d/%d/%d", a.Count(), a.Min(), a.Max())
	}
	if q := a.Quantile(0.5); q != 100 {
		t.Fatalf("median %d, want 100", q)
	}
	a.Record(-5) // clamps to 0
	if a.Min() != 0 {
		t.Fatalf("negative value not clamped: min %d", a.Min())
	}
}
