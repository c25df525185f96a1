package balance

import (
	"slices"
	"strconv"
)

// PointsPerWeight is the number of virtual nodes a server gets on the ring per
// unit of weight. 100 keeps each server's share of the keys within about ±10%
// of its weight's share; a weight-256 server costs 25,600 points (400 KB).
const PointsPerWeight = 100

// chash is consistent hashing on a ring (like HAProxy's lb_chash.c): each
// server owns Weight*PointsPerWeight points at Hash(ID + "#" + n); a key goes
// to the owner of the first point at or after Hash(key), walking on past
// servers that are not usable, so a down server's keys spread over the others
// and come back when it is up, and no other key moves. The ring is built once
// and only read, so Pick takes no lock.
type chash struct {
	set      Set
	ring     []point
	fallback Balancer
}

type point struct {
	hash uint64
	srv  int32
}

// NewCHash returns a consistent-hash balancer. An empty key is balanced round
// robin (a hash of "" would send every keyless client to one server).
func NewCHash(set Set) Balancer {
	b := &chash{set: set, fallback: NewRoundRobin(set)}
	for i := range set.Len() {
		id := set.ID(i) + "#"
		for v := range set.Weight(i) * PointsPerWeight {
			b.ring = append(b.ring, point{Hash(id + strconv.Itoa(v)), int32(i)})
		}
	}
	slices.SortFunc(b.ring, func(a, c point) int {
		switch {
		case a.hash < c.hash:
			return -1
		case a.hash > c.hash:
			return 1
		}
		return int(a.srv - c.srv) // a full 64-bit collision: still deterministic
	})
	return b
}

func (b *chash) Pick(key string) int {
	if key == "" {
		return b.fallback.Pick("")
	}
	if len(b.ring) == 0 || !b.anyUsable() {
		return -1
	}
	h := Hash(key)
	j, _ := slices.BinarySearchFunc(b.ring, h, func(p point, h uint64) int {
		switch {
		case p.hash < h:
			return -1
		case p.hash > h:
			return 1
		}
		return 0
	})
	for k := range len(b.ring) {
		p := b.ring[(j+k)%len(b.ring)]
		if b.set.Usable(int(p.srv)) {
			return int(p.srv)
		}
	}
	return -1
}

// anyUsable bounds the ring walk: without it, a pool with every server down
// would walk the whole ring on every pick.
func (b *chash) anyUsable() bool {
	for i := range b.set.Len() {
		if b.set.Weight(i) > 0 && b.set.Usable(i) {
			return true
		}
	}
	return false
}

// Hash is the ring's hash: FNV-1a 64 followed by the MurmurHash3 64-bit
// finaliser (FNV-1a alone spreads near-identical strings such as "s1#1" and
// "s1#2" poorly in the high bits). It is fixed by design: every gateway node,
// every process and every release must agree on it, or users move between
// servers. TestHashGolden pins its values.
func Hash(s string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
