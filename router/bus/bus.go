// Package bus carries broadcast messages between gateway nodes. Every node
// delivers what it receives from the bus, its own publishes included, so all
// nodes deliver one topic's messages in the same order.
package bus

import "errors"

// OpCode is the WebSocket opcode of a message (1 text, 2 binary).
type OpCode byte

// The opcodes a message can carry.
const (
	OpText   OpCode = 1
	OpBinary OpCode = 2
	// OpClose is a publisher's close action (GRIP's ws-message "action":
	// "close"): every subscriber of the topic is closed; the payload is the
	// close frame's body (code, reason).
	OpClose OpCode = 8
)

// Message is one broadcast. Payload is only valid during the Handler call.
type Message struct {
	Topic   string
	OpCode  OpCode
	Payload []byte
	// Offset and Epoch are the message's position in its topic's stream
	// (lossless resume, wsgate.v1): offsets of one topic increase (with gaps
	// on the Kafka bus); the epoch names the stream's incarnation, so an
	// offset means something only with its epoch. Epoch "" means no position
	// (a message delivered locally while the Kafka bus is degraded).
	Offset int64
	Epoch  string
	// Echo marks a message this node already delivered, without a position,
	// while the Kafka bus was degraded (KafkaConfig.Echoes): only
	// subscribers that need positions take it.
	Echo bool
}

// Handler receives every message of the bus in bus order. It must not block:
// it hands the message to the event loops and returns.
type Handler func(Message)

// Bus publishes messages to every node's Handler.
type Bus interface {
	// Publish sends a message. It copies what it keeps of the payload.
	Publish(topic string, op OpCode, payload []byte) error
	// Close stops delivery.
	Close() error
}

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("bus closed")

// Statuser is implemented by buses that can be degraded (e.g. Kafka
// unreachable); /healthz reports it.
type Statuser interface {
	Status() (healthy bool, detail string)
}

// Positioner is implemented by buses whose messages carry positions.
// Position tells, for a topic, the epoch its next message will carry and its
// floor: the newest offset at or below which this node cannot know the
// topic's messages (where its reading began), so a position at the floor
// has missed nothing this node could see. ok is false while unknown (a Kafka
// bus that never reached the brokers).
type Positioner interface {
	Position(topic string) (epoch string, floor int64, ok bool)
}
