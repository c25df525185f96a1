package gateway

// Resume storms and live delivery (issue 15's benchmark): a loop handles the
// commands of one whole epoll batch (up to 1,024 readable connections)
// before it runs its task queue, where live messages wait (fanout.go
// enqueue). When a drained node's clients resume at once, each of those is a
// recovery of up to -resume-max-messages frames, and live messages waited
// for the whole batch: p99 ≈1 s behind 2,500 recoveries of 1,000 messages
// per node on a shared 2-core host (bench/README.md). So before a recovery,
// once the recoveries written since the loop last looked reach
// recoverySlice bytes, the loop first delivers what waits in its inbox.
// Order is kept: that is the inbox drained a little earlier than its task
// would have, between two commands; a live message delivered before a
// subscribe's reply is in the subscription's (from, last] and is not sent
// again (sendRecovered), and one for a Kafka catch-up is buffered.

// recoverySlice is how many bytes of recovered frames a loop writes before
// it delivers waiting live messages: about one recovery of 1,000 short
// messages, so a busy live topic still gets batched writes.
const recoverySlice = 64 << 10

// liveFirst delivers the loop's waiting live messages if the recoveries
// written since the last call reached recoverySlice. A subscribe with since
// (v1Subscribe, v1Open) calls it before the socket joins a new topic, so no
// live message of that topic precedes the reply (one of a topic it already
// holds may, as before: the reply's "messages" orders them); catchupDone
// calls it first. A subscriber it finds over -max-outbound is closed, as in
// any delivery: callers check their connection afterwards.
func (l *loop) liveFirst() {
	v := l.v1
	if v.recoveredBytes < recoverySlice {
		return
	}
	v.recoveredBytes = 0
	l.inbox.Lock()
	waiting := len(l.inbox.msgs) > 0
	l.inbox.Unlock()
	if waiting {
		l.drain()
	}
}
