package balance

import "sync"

// roundRobin is nginx's smooth weighted round robin: every pick adds each
// usable server's weight to its current score, takes the highest score and
// subtracts the total weight from it. Over any window of sum(weights) picks
// with a stable set of usable servers, each server gets exactly its weight's
// share, and a heavy server's picks are interleaved with the others rather
// than sent in a burst (weights 5:1:1 give a a b a c a a, not a a a a a b c).
type roundRobin struct {
	set Set
	mu  sync.Mutex
	cur []int64 // current scores, guarded by mu
}

// NewRoundRobin returns a smooth weighted round-robin balancer.
func NewRoundRobin(set Set) Balancer {
	return &roundRobin{set: set, cur: make([]int64, set.Len())}
}

func (b *roundRobin) Pick(string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	best, total := -1, int64(0)
	for i := range b.cur {
		w := int64(b.set.Weight(i))
		if w <= 0 || !b.set.Usable(i) {
			continue
		}
		b.cur[i] += w
		total += w
		if best < 0 || b.cur[i] > b.cur[best] {
			best = i
		}
	}
	if best >= 0 {
		b.cur[best] -= total
	}
	return best
}
