package resume

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gobwas/ws"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/internal/jsonstr"
	"github.com/wsgate/wsgate/router"
)

// The wsgate.v1 wire format: every message delivered is a JSON envelope
// {"topic","offset","epoch","data"|"b64"}; the client sends JSON commands
// (subscribe with an optional since, unsubscribe, publish) and gets replies
// carrying its id. Only deliveries carry a topic field.

// Protocol is the WebSocket subprotocol a client offers to get wsgate.v1.
const Protocol = "wsgate.v1"

// Offers reports whether the client offers the wsgate.v1 subprotocol.
func Offers(req *codec.Request) bool {
	for _, h := range req.Headers {
		if !codec.ASCIIEqualFold(h.Name, "Sec-WebSocket-Protocol") {
			continue
		}
		for p := range strings.SplitSeq(h.Value, ",") {
			if strings.TrimSpace(p) == Protocol {
				return true
			}
		}
	}
	return false
}

// position is a since: both fields are required.
type position struct {
	Offset *int64  `json:"offset"`
	Epoch  *string `json:"epoch"`
}

type args struct {
	Topic *string   `json:"topic"`
	Since *position `json:"since"`
	Data  *string   `json:"data"`
	B64   *string   `json:"b64"`
}

// command is one wsgate.v1 command, read but not yet checked against what
// the socket may do.
type command struct {
	id    int64 // 0 when the command carried none that could be read
	name  string
	topic string // a valid topic name (router.TopicName)
	args
}

// badCommand is the error reply a command gets instead of being run.
type badCommand struct {
	code int // 400 malformed, 404 unknown command
	msg  string
}

// parseCommand reads one message from a wsgate.v1 client. A publish
// without a topic goes to the URL's (urlTopic). The checks run in the
// order their errors are documented: frame type, JSON, id, one command,
// known command, topic, and a subscribe's since.
func parseCommand(op ws.OpCode, payload []byte, urlTopic string) (command, *badCommand) {
	var c command
	if op != ws.OpText {
		return c, &badCommand{400, "commands are JSON text messages"}
	}
	var cmd map[string]json.RawMessage
	if err := json.Unmarshal(payload, &cmd); err != nil {
		return c, &badCommand{400, "malformed command: not a JSON object"}
	}
	if raw, ok := cmd["id"]; ok {
		if err := json.Unmarshal(raw, &c.id); err != nil {
			c.id = 0
			return c, &badCommand{400, "malformed command: id must be an integer"}
		}
		delete(cmd, "id")
	}
	if len(cmd) != 1 {
		return c, &badCommand{400, "malformed command: want exactly one of subscribe, unsubscribe, publish"}
	}
	var raw json.RawMessage
	for c.name, raw = range cmd {
	}
	if c.name != "subscribe" && c.name != "unsubscribe" && c.name != "publish" {
		return c, &badCommand{404, "unknown command " + strconv.Quote(c.name)}
	}
	err := json.Unmarshal(raw, &c.args)
	if err == nil && c.Topic == nil && c.name == "publish" {
		c.Topic = &urlTopic
	}
	if err != nil || c.Topic == nil {
		return c, &badCommand{400, "malformed " + c.name + ": want an object with a topic"}
	}
	if c.topic, err = router.TopicName(*c.Topic); err != nil {
		return c, &badCommand{400, "malformed " + c.name + ": " + err.Error()}
	}
	if c.name == "subscribe" && c.Since != nil && (c.Since.Offset == nil || c.Since.Epoch == nil) {
		return c, &badCommand{400, "malformed subscribe: since needs offset and epoch"}
	}
	return c, nil
}

// message is what a publish sends: exactly one of data (text) and b64
// (binary). Checked after access, so a refused publish says 403 whatever
// its body.
func (a *args) message() (router.OpCode, []byte, *badCommand) {
	switch {
	case a.Data != nil && a.B64 == nil:
		return router.OpText, []byte(*a.Data), nil
	case a.B64 != nil && a.Data == nil:
		p, err := base64.StdEncoding.DecodeString(*a.B64)
		if err != nil {
			return 0, nil, &badCommand{400, "malformed publish: b64 is not base64"}
		}
		return router.OpBinary, p, nil
	}
	return 0, nil, &badCommand{400, "malformed publish: want one of data, b64"}
}

// appendReply appends the frame answering a command that succeeded with
// nothing to say: {"id":N,"NAME":{}} (js is scratch).
func appendReply(dst []byte, js *[]byte, id int64, name string) []byte {
	b := append(strconv.AppendInt(append((*js)[:0], `{"id":`...), id, 10), `,"`...)
	b = append(append(b, name...), `":{}}`...)
	*js = b
	return codec.AppendFrame(dst, ws.OpText, b)
}

// appendError appends the frame {"id":N,"error":{"code":C,"message":M}}.
func appendError(dst []byte, js *[]byte, id int64, code int, msg string) []byte {
	b := strconv.AppendInt(append((*js)[:0], `{"id":`...), id, 10)
	b = strconv.AppendInt(append(b, `,"error":{"code":`...), int64(code), 10)
	b = jsonstr.Append(append(b, `,"message":`...), msg)
	b = append(b, "}}"...)
	*js = b
	return codec.AppendFrame(dst, ws.OpText, b)
}

// AppendSubscribeReply appends the reply frame to a subscribe:
// {"id":N,"subscribe":{"offset":O,"epoch":E}}, with "recovered" when it
// had a since (and "reason" when false, "messages" — how many recovered
// messages follow — when true; messages < 0 leaves it out).
func AppendSubscribeReply(dst []byte, id int64, recovered, withSince bool, offset int64, epoch, reason string, messages int) []byte {
	js := strconv.AppendInt(append(make([]byte, 0, 128), `{"id":`...), id, 10)
	js = append(js, `,"subscribe":{`...)
	if withSince {
		js = strconv.AppendBool(append(js, `"recovered":`...), recovered)
		js = append(js, ',')
	}
	js = strconv.AppendInt(append(js, `"offset":`...), offset, 10)
	js = jsonstr.Append(append(js, `,"epoch":`...), epoch)
	if reason != "" {
		js = jsonstr.Append(append(js, `,"reason":`...), reason)
	}
	if messages >= 0 {
		js = strconv.AppendInt(append(js, `,"messages":`...), int64(messages), 10)
	}
	js = append(js, "}}"...)
	return codec.AppendFrame(dst, ws.OpText, js)
}

// AppendEnvelope appends a delivered message as wsgate.v1 JSON: text as a
// JSON string in data, binary as base64 in b64.
func AppendEnvelope(dst []byte, topic string, offset int64, epoch string, op ws.OpCode, payload []byte) []byte {
	dst = jsonstr.Append(append(dst, `{"topic":`...), topic)
	dst = strconv.AppendInt(append(dst, `,"offset":`...), offset, 10)
	dst = jsonstr.Append(append(dst, `,"epoch":`...), epoch)
	if op == ws.OpBinary {
		dst = append(dst, `,"b64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, payload)
		return append(dst, `"}`...)
	}
	dst = jsonstr.Append(append(dst, `,"data":`...), string(payload))
	return append(dst, '}')
}

// AppendEnvelopeFrame appends the envelope as a text frame (js is scratch).
func AppendEnvelopeFrame(dst []byte, js *[]byte, topic string, offset int64, epoch string, op ws.OpCode, payload []byte) []byte {
	*js = AppendEnvelope((*js)[:0], topic, offset, epoch, op, payload)
	return codec.AppendFrame(dst, ws.OpText, *js)
}
