package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Cache keeps auth subrequest answers (auth-cache=DURATION): a reconnect
// storm with the same session cookie asks the auth service once. Only
// answers (2xx, 401, 403) are kept, never a failure, so an outage is not
// remembered. It is bounded in entries; when full, a random entry goes
// (Go's map iteration order), after any expired ones it meets on the way.
type Cache struct {
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[CacheKey]cached
}

// CacheKey is a hash of what the auth service saw that identifies the
// client: its credentials and the target (see Key). A hash, so the cache
// holds no cookie or token in clear.
type CacheKey [sha256.Size]byte

type cached struct {
	ans Answer
	at  time.Time
}

// DefaultCacheEntries bounds a gateway's cache: ~10,000 sessions' answers,
// a few MB at most.
const DefaultCacheEntries = 10_000

// evictScan is how many entries a full Put looks at for an expired one.
const evictScan = 8

// NewCache returns an empty cache of at most max entries; now is the
// clock (nil: time.Now).
func NewCache(max int, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{max: max, now: now, m: make(map[CacheKey]cached)}
}

// Key hashes the auth service's identity (pool and path), the forwarded
// credentials (Cookie, Authorization, Origin) and the client's target
// (X-Original-URI, X-Forwarded-Host and -Proto: the service may decide by
// any of them, a grant for one tenant's Host is not one for another's).
// Fields are separated by a NUL, which no header value holds.
func Key(pool, path string, f *Forward) CacheKey {
	h := sha256.New()
	for _, s := range [...]string{pool, path, f.Cookie, f.Authorization, f.Origin, f.OriginalURI, f.Host, f.Proto} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var k CacheKey
	h.Sum(k[:0])
	return k
}

// Get returns the answer stored under k if it is younger than maxAge (the
// asking route's auth-cache: routes sharing a service may differ).
func (c *Cache) Get(k CacheKey, maxAge time.Duration) (Answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return Answer{}, false
	}
	if c.now().Sub(e.at) >= maxAge {
		return Answer{}, false
	}
	return e.ans, true
}

// Put stores a's answer under k; failures are not stored.
func (c *Cache) Put(k CacheKey, a Answer, ttl time.Duration) {
	if a.Verdict() == Fail || c.max <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		c.evictLocked(now, ttl)
	}
	c.m[k] = cached{ans: a, at: now}
}

// evictLocked frees one entry: the first expired one of a few looked at
// (older than ttl, the storing route's duration), or else the first seen.
func (c *Cache) evictLocked(now time.Time, ttl time.Duration) {
	var victim CacheKey
	n := 0
	for k, e := range c.m {
		if n == 0 {
			victim = k
		}
		if now.Sub(e.at) >= ttl {
			victim = k
			break
		}
		if n++; n >= evictScan {
			break
		}
	}
	delete(c.m, victim)
}

// Len is the number of entries.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
