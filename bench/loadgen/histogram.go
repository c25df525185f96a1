package loadgen

import (
	"math"
	"math/bits"
)

// Histogram is a fixed-memory log-linear histogram in the manner of
// HdrHistogram: values below 2*subCount are exact, above that every power of
// two is split into subCount linear buckets, so a recorded value is known to
// within 1/subCount (< 0.8 %) whatever its magnitude. Recording is a few
// instructions and no allocation; a Histogram is not safe for concurrent use
// (one per event loop, merged at the end).
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

const (
	histSubBits  = 7
	histSubCount = 1 << histSubBits // exact values below this
	histHalf     = histSubCount / 2
	// histMaxShift bounds the range: values up to 2^(histMaxShift+histSubBits)
	// (≈ 2^47 ns ≈ 39 hours) get their own bucket, larger ones land in the last.
	histMaxShift = 40
	histBuckets  = histSubCount + histMaxShift*histHalf
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{min: math.MaxInt64}
}

func histIndex(v int64) int {
	if v < histSubCount {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits // v>>shift is in [64, 128)
	if shift > histMaxShift {
		return histBuckets - 1
	}
	return histSubCount + (shift-1)*histHalf + int(v>>uint(shift)) - histHalf
}

// histUpper is the highest value that maps to bucket i (what HdrHistogram
// calls the highest equivalent value), so percentiles never understate.
func histUpper(i int) int64 {
	if i < histSubCount {
		return int64(i)
	}
	j := i - histSubCount
	shift := j/histHalf + 1
	sub := int64(j%histHalf + histHalf)
	return (sub+1)<<uint(shift) - 1
}

// Record adds one value (negative values count as 0).
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[histIndex(v)]++
	h.n++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the exact largest recorded value (0 when empty).
func (h *Histogram) Max() int64 {
	if h.n == 0 {
		return 0
	}
	return h.max
}

// Min is the exact smallest recorded value (0 when empty).
func (h *Histogram) Min() int64 {
	if h.n == 0 {
		return 0
	}
	return h.min
}

// Mean is the exact mean of the recorded values.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q (0..1): the upper bound of the
// bucket holding the ceil(q*n)-th smallest value, capped at the exact max.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(histUpper(i), h.max)
		}
	}
	return h.max
}
