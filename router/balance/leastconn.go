package balance

import "sync/atomic"

// leastConn picks the usable server with the fewest current sessions per unit
// of weight (load_i/weight_i, compared by cross-multiplying, no division).
// The scan starts one server further on every pick and keeps the first
// minimum, so servers with equal load are taken in turn (round robin) rather
// than always the first. Lock-free: loads are read atomically; two
// concurrent picks may choose the same server, which the next pick corrects.
type leastConn struct {
	set  Set
	next atomic.Uint64
}

// NewLeastConn returns a least-connections balancer.
func NewLeastConn(set Set) Balancer { return &leastConn{set: set} }

func (b *leastConn) Pick(string) int {
	n := b.set.Len()
	if n == 0 {
		return -1
	}
	start := int((b.next.Add(1) - 1) % uint64(n))
	best, bestLoad, bestW := -1, int64(0), int64(0)
	for k := range n {
		i := (start + k) % n
		w := int64(b.set.Weight(i))
		if w <= 0 || !b.set.Usable(i) {
			continue
		}
		load := b.set.Load(i)
		if best < 0 || load*bestW < bestLoad*w {
			best, bestLoad, bestW = i, load, w
		}
	}
	return best
}
