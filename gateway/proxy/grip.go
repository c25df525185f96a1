package proxy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/codec"
)

// GRIP sessions (Pushpin's WebSocket-over-GRIP, the WebSocket part): a pool
// with the grip option offers the extension to its servers; a server that
// accepts it drives the session. Its server→client frames are no longer
// relayed raw: "c:" text messages are control messages for the gateway
// (subscribe, unsubscribe, detach, keep-alive), messages starting with the
// prefix go to the client without it, others are dropped. Messages
// published to the session's channels are written between the server's
// messages, never inside a fragmented one. The client→server direction is
// relayed raw as in any tunnel, with its frame boundaries tracked so the
// gateway can take the client over when the server detaches.

// GripEnv is what GRIP sessions need from the gateway.
type GripEnv interface {
	// Attached: client c's session became GRIP-managed.
	Attached(c Client)
	// Subscribe puts client c on channel (a raw name: the gateway applies
	// the topic name rule and the per-connection limit, counting and
	// logging what it refuses). Unsubscribe takes it off.
	Subscribe(c Client, channel string)
	Unsubscribe(c Client, channel string)
	// Detached hands the client over to the gateway once the server is
	// gone, at a frame boundary of the client's stream: it stays subscribed
	// and no longer publishes. inMsg: the client is inside a fragmented
	// message, whose rest the gateway must read and discard.
	Detached(c Client, inMsg bool)
	// Event counts one GRIP event: "detached", "dropped",
	// "control:TYPE" (TYPE subscribe, unsubscribe, detach, keep-alive,
	// unknown, malformed), "backlog".
	Event(kind string)
}

// GripConfig turns GRIP on for a Loop (nil: pools' grip option is ignored).
type GripConfig struct {
	Env        GripEnv
	MaxMessage int // largest backend frame and control message (close 1009 above)
	MaxPending int // bytes of publishes a session may hold while its server is mid-message
}

// Kinds of the server message in progress.
const (
	msgNone    uint8 = iota // between messages
	msgForward              // prefixed: going to the client, which is inside it until FIN
	msgControl              // "c:": being reassembled for the gateway
	msgDrop                 // neither: dropped
)

// gripState is a GRIP session's part of a Session.
type gripState struct {
	prefix    []byte
	mode      uint8
	detaching bool // the server detached: waiting for a client frame boundary to hand over
	closing   bool // a publish closed the session: it ends once the queue is out
	need      int  // bytes the incomplete frame at the head of the server's input needs
	ctl       []byte
	up        codec.MessageTracker // client→server frames
	pending   [][]byte             // publishes waiting for the server's message to end
	pendBytes int
	keep      []byte // the keep-alive frame, nil when none
	keepTicks uint32
	lastOut   uint32 // tick of the last frame to the client
}

// gripOffer reports whether the request is an upgrade to a GRIP pool.
func (lp *Loop) gripOffer(s *Session) bool {
	return s.upgrade && s.pool.Opts.Grip && lp.Grip != nil
}

// gripResponse is responseHead's GRIP step on a 101: a GRIP pool's client
// never sees an extension (the gateway offered only grip); a server that
// accepted grip makes the session GRIP-managed.
func (s *Session) gripResponse(resp *codec.Response, tunnel bool) *codec.Response {
	if !tunnel || !s.lp.gripOffer(s) {
		return resp
	}
	if prefix, ok := codec.GripAccepted(resp); ok {
		s.grip = &gripState{prefix: []byte(prefix), lastOut: s.lp.Env.Now()}
		s.lp.Grip.Env.Attached(s.client)
	}
	return codec.WithoutExtensions(resp)
}

// gripRelay is relay for a GRIP session.
func (s *Session) gripRelay(from Side, fromServer bool) {
	if fromServer {
		s.gripServerData(from)
	} else {
		s.gripClientData()
	}
}

func (s *Session) gripClientData() {
	g := s.grip
	for {
		buf := s.client.Peek()
		if len(buf) == 0 {
			return
		}
		if g.detaching {
			// The server is gone: the rest of the client's frame in
			// progress has no one to go to.
			n := g.up.Upto(buf)
			s.client.Discard(n)
			if g.up.AtBoundary() {
				s.handOver()
				return
			}
			continue
		}
		g.up.Track(buf)
		s.server.Write(buf)
		if s.ended || s.server == nil {
			return
		}
		s.client.Discard(len(buf))
		s.lastSeen = s.lp.Env.Now()
		s.lp.Env.TunnelBytes(len(buf))
		s.count(false, len(buf))
		if s.server.OutboundBuffered() > SendCap {
			s.pause(s.client)
		}
		return
	}
}

func (s *Session) gripServerData(srv Side) {
	g := s.grip
	for !s.ended && s.server == srv {
		if g.need > 0 && srv.InboundBuffered() < g.need {
			return // a large frame arrives over many reads: wait for all of it
		}
		buf := srv.Peek()
		f, ok, err := codec.NextServerFrame(buf, s.lp.Grip.MaxMessage)
		if err != nil {
			code := ws.StatusProtocolError
			if errors.Is(err, codec.ErrServerFrameTooBig) {
				code = ws.StatusMessageTooBig
			}
			s.gripFail(code, err.Error())
			return
		}
		if !ok {
			if n, whole := codec.FrameLen(buf); whole {
				g.need = int(n)
			}
			return
		}
		g.need = 0
		s.gripFrame(f, buf[:f.Len])
		if s.ended || s.server != srv {
			return // ended, failed or detached: what is left of the server's input goes with it
		}
		srv.Discard(f.Len)
		s.lastSeen = s.lp.Env.Now()
		s.lp.Env.TunnelBytes(f.Len)
		s.count(true, f.Len)
		if s.client.OutboundBuffered() > SendCap {
			s.pause(srv)
			return
		}
	}
}

// gripFrame handles one complete server frame; raw is its encoding.
func (s *Session) gripFrame(f codec.ServerFrame, raw []byte) {
	g := s.grip
	if f.OpCode.IsControl() {
		s.gripWrite(raw) // ping, pong and close reach the client as they are
		return
	}
	p := f.Payload
	if f.OpCode != ws.OpContinuation {
		switch {
		case g.mode != msgNone:
			s.gripFail(ws.StatusProtocolError, "new message inside a fragmented one")
			return
		case f.OpCode == ws.OpText && bytes.HasPrefix(p, []byte("c:")):
			g.mode, g.ctl = msgControl, append(g.ctl[:0], p[2:]...)
		case bytes.HasPrefix(p, g.prefix):
			g.mode = msgForward
			s.lp.scratch = codec.AppendServerFrame(s.lp.scratch[:0], f.Fin, f.OpCode, p[len(g.prefix):])
			s.gripWrite(s.lp.scratch)
		default:
			g.mode = msgDrop
			s.lp.Grip.Env.Event("dropped")
		}
	} else {
		switch g.mode {
		case msgNone:
			s.gripFail(ws.StatusProtocolError, "continuation frame outside a message")
			return
		case msgForward:
			s.gripWrite(raw)
		case msgControl:
			if len(g.ctl)+len(p) > s.lp.Grip.MaxMessage {
				s.gripFail(ws.StatusMessageTooBig, "control message too big")
				return
			}
			g.ctl = append(g.ctl, p...)
		}
	}
	if !f.Fin || s.ended {
		return
	}
	mode := g.mode
	g.mode = msgNone
	switch mode {
	case msgControl:
		s.gripControl(g.ctl)
		if cap(g.ctl) > 4096 {
			g.ctl = nil
		}
	case msgForward:
		s.gripFlush() // the client is between messages again
	}
}

// gripWrite writes a whole frame to the client.
func (s *Session) gripWrite(frame []byte) {
	s.client.Write(frame)
	s.grip.lastOut = s.lp.Env.Now()
}

// GripPublish writes a frame published to one of the session's channels to
// the client, or queues it while the client is inside a message of the
// server's. isClose: it is a close frame (a publisher's close action) and
// the session ends once it is out.
func (s *Session) GripPublish(frame []byte, isClose bool) {
	g := s.grip
	if s.ended || g == nil || g.closing {
		return
	}
	if g.mode == msgForward || len(g.pending) > 0 {
		if g.pendBytes+len(frame) > s.lp.Grip.MaxPending {
			s.lp.Grip.Env.Event("backlog")
			s.End()
			s.client.GoingAway("publish backlog full while the backend sends a long message")
			return
		}
		g.pending = append(g.pending, slices.Clone(frame))
		g.pendBytes += len(frame)
		g.closing = isClose
		return
	}
	s.gripWrite(frame)
	if isClose && !s.ended {
		s.End()
		s.client.Linger()
	}
}

// gripFlush writes the publishes that waited for the server's message to end.
func (s *Session) gripFlush() {
	g := s.grip
	for i, f := range g.pending {
		if s.ended {
			return
		}
		s.gripWrite(f)
		g.pending[i] = nil
	}
	g.pending, g.pendBytes = g.pending[:0], 0
	if g.closing && !s.ended {
		s.End()
		s.client.Linger()
	}
}

// gripCommand is a control message (Pushpin's WebSocket control messages).
type gripCommand struct {
	Type        string  `json:"type"`
	Channel     string  `json:"channel"`
	Content     *string `json:"content"`
	ContentBin  *string `json:"content-bin"`
	MessageType string  `json:"message-type"`
	Timeout     int     `json:"timeout"`
}

// gripControl runs a complete control message.
func (s *Session) gripControl(msg []byte) {
	env := s.lp.Grip.Env
	var c gripCommand
	if err := json.Unmarshal(msg, &c); err != nil || c.Type == "" {
		if err == nil {
			err = errors.New("no type")
		}
		env.Event("control:malformed")
		s.lp.Env.Warn("malformed GRIP control message: closing the backend", "pool", s.pool.Name, "server", s.target.Name, "err", err)
		s.gripFail(ws.StatusProtocolError, "malformed control message")
		return
	}
	switch c.Type {
	case "subscribe":
		env.Event("control:subscribe")
		env.Subscribe(s.client, c.Channel)
	case "unsubscribe":
		env.Event("control:unsubscribe")
		env.Unsubscribe(s.client, c.Channel)
	case "detach":
		env.Event("control:detach")
		s.gripDetach()
	case "keep-alive":
		env.Event("control:keep-alive")
		s.gripKeepAlive(&c)
	default:
		env.Event("control:unknown")
	}
}

// gripKeepAlive sets (or, without content, clears) the keep-alive: the
// content goes to the client when the session has sent it nothing for
// timeout seconds (Pushpin's default 30).
func (s *Session) gripKeepAlive(c *gripCommand) {
	g := s.grip
	var content []byte
	switch {
	case c.ContentBin != nil:
		b, err := base64.StdEncoding.DecodeString(*c.ContentBin)
		if err != nil {
			s.lp.Env.Warn("GRIP keep-alive: bad content-bin, ignored", "pool", s.pool.Name, "err", err)
			return
		}
		content = b
	case c.Content != nil:
		content = []byte(*c.Content)
	default:
		g.keep = nil
		return
	}
	op := ws.OpText
	switch c.MessageType {
	case "binary":
		op = ws.OpBinary
	case "ping":
		op = ws.OpPing
	case "pong":
		op = ws.OpPong
	}
	if c.ContentBin != nil && c.MessageType == "" {
		op = ws.OpBinary
	}
	if op.IsControl() && len(content) > ws.MaxControlFramePayloadSize {
		content = content[:ws.MaxControlFramePayloadSize]
	}
	g.keep = codec.AppendFrame(nil, op, content)
	timeout := time.Duration(c.Timeout) * time.Second
	if c.Timeout <= 0 {
		timeout = 30 * time.Second
	}
	g.keepTicks = max(s.lp.ticks(timeout), 1)
	now := s.lp.Env.Now()
	s.client.Schedule(s.gripDue(now, s.lastSeen+s.lp.ticks(s.pool.Opts.TunnelTimeout)))
}

// gripDue sends the keep-alive if it is due and returns the tick the session
// must next wake at: due (the tunnel timeout's) or the next keep-alive.
func (s *Session) gripDue(now, due uint32) uint32 {
	g := s.grip
	if g == nil || g.keep == nil || g.detaching {
		return due
	}
	if int32(now-(g.lastOut+g.keepTicks)) >= 0 && g.mode != msgForward {
		s.gripWrite(g.keep)
	}
	if next := g.lastOut + g.keepTicks; int32(next-due) < 0 {
		return next
	}
	return due
}

// gripDetach lets the server go, keeping the client and its channels.
func (s *Session) gripDetach() {
	g := s.grip
	srv := s.server
	s.server = nil
	srv.Close()
	s.releaseTarget()
	g.detaching, g.mode = true, msgNone
	s.lp.Grip.Env.Event("detached")
	s.gripFlush()
	if !s.ended && g.up.AtBoundary() {
		s.handOver()
	}
}

// handOver ends the session and gives the client to the gateway.
func (s *Session) handOver() {
	inMsg := s.grip.up.InMessage()
	s.End()
	s.lp.Grip.Env.Detached(s.client, inMsg)
}

// gripFail closes the server side with code (a protocol error of the
// server's) and the client with 1001, as when a server goes away.
func (s *Session) gripFail(code ws.StatusCode, reason string) {
	if s.server != nil {
		s.lp.scratch = codec.AppendMaskedCloseFrame(s.lp.scratch[:0], code, reason)
		s.server.Write(s.lp.scratch)
	}
	if s.ended {
		return
	}
	s.lp.Env.Warn("GRIP backend failed the protocol: closing it", "pool", s.pool.Name, "server", s.target.Name, "code", int(code), "reason", reason)
	s.End()
	s.client.GoingAway("backend server went away")
}

// Grip reports whether the session is GRIP-managed.
func (s *Session) Grip() bool { return s.grip != nil }
