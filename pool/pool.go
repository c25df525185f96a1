// Package pool hands out reusable byte buffers so that no connection holds
// memory while idle: a buffer is taken when a frame or message needs one and
// returned as soon as it has been handled.
package pool

import "github.com/valyala/bytebufferpool"

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
