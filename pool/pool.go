// Package pool hands out reusable byte buffers so that no connection holds
// memory while idle: a buffer is taken when a frame or message needs one and
// returned as soon as it has been handled.
package pool

import (
	"sync/atomic"

	"github.com/valyala/bytebufferpool"
)

// Buffer is a pooled, growable byte buffer (bytebufferpool's ByteBuffer).
type Buffer = bytebufferpool.ByteBuffer

// Pool is a calibrated buffer pool. The zero value is ready to use; keep one
// per purpose (messages, frames, HTTP heads) so each calibrates to its own sizes.
type Pool struct {
	p bytebufferpool.Pool
}

// Get returns an empty buffer from the pool.
func (p *Pool) Get() *Buffer { return p.p.Get() }

// Put resets b and returns it to the pool. b must not be used afterwards.
func (p *Pool) Put(b *Buffer) {
	if b != nil {
		p.p.Put(b)
	}
}

// Shared is a reference-counted buffer written to many connections (an encoded
// broadcast frame). Each holder calls Release once; the last one returns the
// buffer to its pool.
type Shared struct {
	B    *Buffer
	refs atomic.Int32
	pool *Pool
}

// NewShared wraps b (taken from p) with a reference count of refs.
func NewShared(p *Pool, b *Buffer, refs int32) *Shared {
	s := &Shared{B: b, pool: p}
	s.refs.Store(refs)
	return s
}

// Retain adds n references.
func (s *Shared) Retain(n int32) { s.refs.Add(n) }

// Release drops one reference and returns the buffer to its pool when none remain.
func (s *Shared) Release() {
	if s.refs.Add(-1) == 0 {
		s.pool.Put(s.B)
		s.B = nil
	}
}
