// Package grip is the gateway's side of GRIP sessions (Pushpin's
// WebSocket-over-GRIP): what a GRIP client is on, and where a publish to it
// goes.
//
// The session machine (gateway/proxy/grip.go) reads the backend's frames and
// turns its control messages into calls to proxy.GripEnv; codec holds the
// wire format. What outlives one backend frame is here, per event loop and
// without a socket:
//
//   - the channel memberships: a GRIP client can be on many channels, so each
//     membership is a Sub in the loop's channel table (Channels), apart from
//     plain topic subscribers, who keep their single group on the
//     connection. GRIP channels and topics are one namespace: the gateway
//     delivers a bus message for topic T to both tables' groups of T;
//   - the rules a subscribe obeys: the topic name rule (router.TopicName) and
//     -max-topics-per-conn, an ignored subscribe being counted and logged;
//   - delivery: a publish reaches a client through its session while the
//     backend is attached (the session holds it back while the backend is
//     inside a fragmented message), straight to the client once detached; a
//     publisher's close goes through the session the same way, or closes a
//     detached client;
//   - the GRIP metrics (Metrics): sessions by state, subscriptions, ignored
//     subscribes, control messages by type, dropped and discarded messages,
//     backlog closes.
//
// The gateway keeps the sockets and the connection state machine; it hands
// this package a Client per connection (its state as delivery needs it,
// write, close) and keeps the Conn returned by Attach on the connection.
// Taking a detached client over (timers, reading, the rest of a fragmented
// client message) is the connection state machine's job, not this package's.
package grip
