package loadgen

// -proto centrifugo: Centrifugo's JSON client protocol over the same
// WebSocket engine, so Centrifugo is measured by the same generator as wsgate
// and Node `ws` (bench/compare.sh). After the upgrade each connection sends a
// connect and a subscribe command; the broadcast publisher sends publish
// commands whose data carries the sequence number and timestamp; pushes are
// unwrapped back into the 16-byte header the scenarios read. Centrifugo may
// put several replies or pushes in one frame, one JSON object per line, and
// pings are an empty object `{}` that the client answers with `{}`.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
)

// ProtoCentrifugo is the -proto value for Centrifugo's JSON protocol.
const ProtoCentrifugo = "centrifugo"

// centrifugoChannel is the channel every connection subscribes to.
const centrifugoChannel = "chat"

var (
	cfConnect   = []byte(`{"id":1,"connect":{}}`)
	cfSubscribe = []byte(`{"id":2,"subscribe":{"channel":"` + centrifugoChannel + `"}}`)
	cfPong      = []byte(`{}`)
	cfPush      = []byte(`"push":`)
	cfSeq       = []byte(`"s":`)
	cfTime      = []byte(`"t":`)
	cfError     = []byte(`"error":`)
)

// centrifugoOpen sends the connect and subscribe commands on a new connection.
func (l *Loop) centrifugoOpen(c *Conn) {
	l.Send(c, OpText, cfConnect)
	l.Send(c, OpText, cfSubscribe)
}

// centrifugoDeliver handles one frame: it answers pings, drops command
// replies, fails the connection on an error reply, and hands each push's
// data to the scenario as the usual payload (sequence, timestamp, padded to
// the configured size).
func (l *Loop) centrifugoDeliver(c *Conn, p []byte, now int64) {
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		line = bytes.TrimSpace(line)
		switch {
		case len(line) == 0:
		case bytes.Equal(line, cfPong):
			l.Send(c, OpText, cfPong)
		case bytes.Contains(line, cfPush):
			seq, ok1 := jsonUint(line, cfSeq)
			ts, ok2 := jsonUint(line, cfTime)
			if !ok1 || !ok2 {
				l.deliver(c, OpText, line, now) // not ours: the scenario counts it as foreign
				continue
			}
			size := max(l.eng.size, payloadHeader)
			if cap(l.pushBuf) < size {
				l.pushBuf = make([]byte, size)
			}
			buf := l.pushBuf[:size]
			binary.LittleEndian.PutUint64(buf[0:8], seq)
			binary.LittleEndian.PutUint64(buf[8:16], ts)
			l.deliver(c, OpBinary, buf, now)
		case bytes.Contains(line, cfError):
			l.lose(c, fmt.Errorf("centrifugo error reply: %.200s", line))
			return
		}
	}
}

// jsonUint finds key (e.g. `"s":`) in line and parses the decimal after it.
func jsonUint(line, key []byte) (uint64, bool) {
	i := bytes.Index(line, key)
	if i < 0 {
		return 0, false
	}
	j := i + len(key)
	k := j
	for k < len(line) && line[k] >= '0' && line[k] <= '9' {
		k++
	}
	v, err := strconv.ParseUint(string(line[j:k]), 10, 64)
	return v, err == nil
}

// appendCentrifugoPublish appends a publish command whose data carries seq
// and ts, padded so the data object is about size bytes (the payload size
// the other targets carry).
func appendCentrifugoPublish(b []byte, id, seq uint64, ts int64, size int) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"publish":{"channel":"`+centrifugoChannel+`","data":{"s":`...)
	start := len(b) - len(`{"s":`)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"p":"`...)
	for n := len(b) - start + len(`"}`); n < size; n++ {
		b = append(b, 'x')
	}
	return append(b, `"}}}`...)
}
