// Package wstest is the WebSocket test client shared by the gateway, bench and
// bus tests: an RFC 6455 client (handshake, frame encoder and decoder) written
// from scratch here, deliberately without gobwas/ws or codec, which the gateway
// itself uses: an independent encoder is a better oracle than the code under
// test. It may also write invalid frames (unmasked, reserved bits, a declared
// length larger than the payload) to provoke protocol errors.
//
// Nothing here touches a *testing.T, so any goroutine may use it; callers turn
// errors into test failures.
package wstest

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// GUID is the constant RFC 6455 section 1.3 appends to the key.
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Opcodes (RFC 6455 section 5.2).
const (
	OpCont   byte = 0x0
	OpText   byte = 0x1
	OpBinary byte = 0x2
	OpClose  byte = 0x8
	OpPing   byte = 0x9
	OpPong   byte = 0xA
)

// maxFrame bounds what ReadFrame accepts, so a garbled length cannot make a
// test allocate gigabytes.
const maxFrame = 64 << 20

// NewKey returns a fresh random Sec-WebSocket-Key.
func NewKey() string {
	var k [16]byte
	_, _ = rand.Read(k[:])
	return base64.StdEncoding.EncodeToString(k[:])
}

// AcceptKey is the Sec-WebSocket-Accept a server must answer to key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + GUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// UpgradeRequest is a valid opening handshake for path, with extra header
// lines ("Name: value") before the blank line.
func UpgradeRequest(host, path, key string, headers ...string) string {
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// CloseBody is a close frame's payload: the code, then the reason.
func CloseBody(code int, reason string) []byte {
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}

// Frame is one frame a client sends, including invalid ones.
type Frame struct {
	Fin      bool
	RSV      byte // RSV1..3 as the three bits 0b100, 0b010, 0b001
	Op       byte
	Payload  []byte
	Unmasked bool // send without a mask (a protocol error from a client)
	// DeclaredLen, when > 0, is written as the payload length instead of
	// len(Payload): it announces an oversized message without sending it all.
	DeclaredLen int
}

// Encode builds the wire bytes of f (RFC 6455 section 5.2), masking with a
// random key unless f.Unmasked.
func Encode(f Frame) []byte {
	b0 := f.Op & 0x0f
	if f.Fin {
		b0 |= 0x80
	}
	b0 |= (f.RSV & 0x7) << 4
	b := []byte{b0}
	n := len(f.Payload)
	if f.DeclaredLen > 0 {
		n = f.DeclaredLen
	}
	var maskBit byte
	if !f.Unmasked {
		maskBit = 0x80
	}
	switch {
	case n <= 125:
		b = append(b, maskBit|byte(n))
	case n <= 0xffff:
		b = append(b, maskBit|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, maskBit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	p := append([]byte(nil), f.Payload...)
	if !f.Unmasked {
		var key [4]byte
		_, _ = rand.Read(key[:])
		b = append(b, key[:]...)
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	return append(b, p...)
}

// Text is a final, masked text frame: the common case.
func Text(s string) []byte { return Encode(Frame{Fin: true, Op: OpText, Payload: []byte(s)}) }

// Received is one frame read from a server.
type Received struct {
	Fin     bool
	RSV     byte
	Op      byte
	Masked  bool // a server must not mask; tests check this
	Payload []byte
}

// CloseCode is the code of a close frame's payload (0 when it has none).
func (f Received) CloseCode() int {
	if len(f.Payload) < 2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(f.Payload))
}

// CloseReason is the reason of a close frame's payload.
func (f Received) CloseReason() string { return string(f.Payload[min(2, len(f.Payload)):]) }

// Conn is a TCP connection with a buffered reader; every read is bounded by a
// deadline the caller gives.
type Conn struct {
	net.Conn
	R *bufio.Reader
}

// NewConn wraps c with a read buffer of bufSize bytes (thousands of
// connections in one test want a small one).
func NewConn(c net.Conn, bufSize int) *Conn {
	return &Conn{Conn: c, R: bufio.NewReaderSize(c, bufSize)}
}

// Dial opens a TCP connection with a 64 KiB read buffer.
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return NewConn(c, 64<<10), nil
}

// StatusError is a refused upgrade: the status, the response and its body.
type StatusError struct {
	Resp *http.Response
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("status %d %q, want 101: %q", e.Resp.StatusCode, e.Resp.Status, e.Body)
}

// Options of a handshake. The zero value is a plain upgrade of path.
type Options struct {
	Host    string        // Host header ("": the address dialled)
	Headers []string      // extra header lines, "Name: value"
	Chunk   int           // > 0: write the request that many bytes at a time (a head split anywhere must parse)
	Timeout time.Duration // bounds the whole handshake (0: 10 s)
	BufSize int           // read buffer (0: 64 KiB)
}

// Upgrade dials addr and completes the opening handshake on path. The
// response is returned even when err is a *StatusError (a refused upgrade).
func Upgrade(addr, path string, o Options) (*Conn, *http.Response, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	size := o.BufSize
	if size <= 0 {
		size = 64 << 10
	}
	c := NewConn(nc, size)
	if o.Host == "" {
		o.Host = addr
	}
	resp, err := c.Handshake(path, o)
	if err != nil {
		nc.Close()
		return nil, resp, err
	}
	return c, resp, nil
}

// Handshake sends the opening handshake on an open connection and checks the
// 101 answer byte for byte where RFC 6455 fixes it.
func (c *Conn) Handshake(path string, o Options) (*http.Response, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	key := NewKey()
	req := []byte(UpgradeRequest(o.Host, path, key, o.Headers...))
	chunk := o.Chunk
	if chunk <= 0 {
		chunk = len(req)
	}
	for i := 0; i < len(req); i += chunk {
		if _, err := c.Write(req[i:min(i+chunk, len(req))]); err != nil {
			return nil, fmt.Errorf("write handshake: %w", err)
		}
		if chunk < len(req) {
			time.Sleep(2 * time.Millisecond)
		}
	}
	resp, err := http.ReadResponse(c.R, nil)
	if err != nil {
		return nil, fmt.Errorf("read upgrade response of %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, &StatusError{Resp: resp, Body: string(body)}
	}
	resp.Body.Close()
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), AcceptKey(key); got != want {
		return resp, fmt.Errorf("upgrade %s: Sec-WebSocket-Accept %q, want %q", path, got, want)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return resp, fmt.Errorf("upgrade %s: Upgrade header %q", path, resp.Header.Get("Upgrade"))
	}
	return resp, nil
}

// ReadResponse reads one HTTP response head (and, unless it is a 101, its
// body) within timeout.
func (c *Conn) ReadResponse(timeout time.Duration) (*http.Response, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	resp, err := http.ReadResponse(c.R, nil)
	if err != nil {
		return nil, fmt.Errorf("read HTTP response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// Read the body so that a following EOF check sees the end of the
		// connection, not the body.
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	return resp, nil
}

// WriteFrames encodes frames and writes them in one write (5 s bound).
func (c *Conn) WriteFrames(frames ...Frame) error {
	var buf []byte
	for _, f := range frames {
		buf = append(buf, Encode(f)...)
	}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(buf); err != nil {
		return fmt.Errorf("write frames: %w", err)
	}
	return nil
}

// ReadFrame reads one server frame before deadline.
func (c *Conn) ReadFrame(deadline time.Time) (Received, error) {
	_ = c.SetReadDeadline(deadline)
	var h [2]byte
	if _, err := io.ReadFull(c.R, h[:]); err != nil {
		return Received{}, err
	}
	f := Received{Fin: h[0]&0x80 != 0, RSV: (h[0] >> 4) & 7, Op: h[0] & 0x0f, Masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(c.R, ext[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(c.R, ext[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > maxFrame {
		return f, fmt.Errorf("server frame of %d bytes", n)
	}
	var key [4]byte
	if f.Masked {
		if _, err := io.ReadFull(c.R, key[:]); err != nil {
			return f, err
		}
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(c.R, f.Payload); err != nil {
		return f, err
	}
	if f.Masked {
		for i := range f.Payload {
			f.Payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

// CloseResult is what a connection ended with.
type CloseResult struct {
	GotClose  bool       // a close frame arrived
	Code      int        // its code (0: empty body)
	Reason    string     // its reason
	BodyLen   int        // close payload length
	TCPClosed bool       // EOF/reset after it (within the bound)
	ReadErr   error      // the error that ended reading before any close frame
	Others    []Received // frames before the close
}

func (r CloseResult) String() string {
	if !r.GotClose {
		return fmt.Sprintf("no close frame (read ended with %v; %d other frames)", r.ReadErr, len(r.Others))
	}
	return fmt.Sprintf("close %d %q (tcp closed after: %v)", r.Code, r.Reason, r.TCPClosed)
}

// ReadUntilClose reads frames until a close frame (recording others), then
// waits up to 3 s for the TCP connection to end.
func (c *Conn) ReadUntilClose(timeout time.Duration) CloseResult {
	var r CloseResult
	deadline := time.Now().Add(timeout)
	for {
		f, err := c.ReadFrame(deadline)
		if err != nil {
			r.ReadErr = err
			return r
		}
		if f.Op != OpClose {
			r.Others = append(r.Others, f)
			continue
		}
		r.GotClose = true
		r.BodyLen = len(f.Payload)
		if len(f.Payload) >= 2 {
			r.Code = f.CloseCode()
			r.Reason = f.CloseReason()
		}
		r.TCPClosed = c.WaitEOF(3 * time.Second)
		return r
	}
}

// WaitEOF reports whether the peer ends the connection (EOF or reset) within
// timeout, discarding data.
func (c *Conn) WaitEOF(timeout time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, c.R)
	return !IsTimeout(err) // io.Copy returns nil on EOF; a reset is an end too
}

// IsTimeout reports whether err is a deadline expiry.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
