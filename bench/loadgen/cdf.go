package loadgen

// cdfQuantiles are the points written for a latency CDF: dense in the body,
// then the tail up to the maximum.
var cdfQuantiles = func() []float64 {
	var q []float64
	for i := 1; i <= 95; i++ {
		q = append(q, float64(i)/100)
	}
	return append(q, 0.96, 0.97, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1)
}()

// CDFPoints returns (µs, fraction) points of h's distribution.
func CDFPoints(h *Histogram) [][2]float64 {
	if h.Count() == 0 {
		return nil
	}
	out := make([][2]float64, 0, len(cdfQuantiles)+1)
	out = append(out, [2]float64{float64(h.Min()) / 1e3, 0})
	for _, q := range cdfQuantiles {
		out = append(out, [2]float64{float64(h.Quantile(q)) / 1e3, q})
	}
	return out
}
