package admin

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/wsgate/wsgate/router"
)

// Pushpin's publish format (GRIP publishing over HTTP), so Pushpin's
// publishers (pushpin-publish, the gripcontrol libraries) work unchanged:
//
//	POST /publish/ {"items":[{"channel":"C","formats":{"ws-message":{"content":"hi"}}}]}
//
// Each item's ws-message becomes one bus message on topic C (GRIP channels
// and topics are one namespace), in item order: text (content), binary
// (content-bin, base64), or a close action, carried through the bus as a
// message of opcode close whose payload is the close frame's body, which
// every node turns into closing every subscriber of the topic. Other
// formats (http-response, http-stream) have no subscriber here and are
// ignored, as are id, prev-id and meta.

// pushpinItem is one item of a publish request.
type pushpinItem struct {
	Channel string `json:"channel"`
	Formats struct {
		WSMessage *pushpinWSMessage `json:"ws-message"`
	} `json:"formats"`
}

type pushpinWSMessage struct {
	Content    *string `json:"content"`
	ContentBin *string `json:"content-bin"`
	Type       string  `json:"type"`
	Action     string  `json:"action"`
	Code       *int    `json:"code"`
	Reason     string  `json:"reason"`
}

type pushpinMessage struct {
	topic   string
	op      router.OpCode
	payload []byte
}

// pushpinPublishHandler serves POST /publish/.
func (g *Server) pushpinPublishHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if !g.authorizedPublisher(r) {
			g.refusePublisher(w)
			return
		}
		// Room for a message of -max-message-bytes in base64 and some items around it.
		body, ok := readBody(w, r, int64(g.cfg.MaxMessageBytes)*4/3+64<<10, "request over the publish size limit")
		if !ok {
			return
		}
		msgs, err := pushpinMessages(body, g.cfg.MaxMessageBytes)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		// Every item was checked first: a bad request publishes nothing.
		for i, m := range msgs {
			if err := g.bus.Publish(m.topic, m.op, m.payload); err != nil {
				g.publishErrors.Inc()
				http.Error(w, fmt.Sprintf("bus refused item %d of %d (%d published): %v", i+1, len(msgs), i, err),
					http.StatusServiceUnavailable)
				return
			}
		}
		// Exactly 200: pushpin-publish takes anything else (202 too) as a failure.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Published\n"))
	})
}

// pushpinMessages checks a publish request and turns its ws-message items
// into bus messages, in order.
func pushpinMessages(body []byte, maxMessage int) ([]pushpinMessage, error) {
	var req struct {
		Items []pushpinItem `json:"items"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if req.Items == nil {
		return nil, errors.New(`want {"items":[...]}`)
	}
	var out []pushpinMessage
	for i, it := range req.Items {
		topic, err := router.TopicName(it.Channel)
		if err != nil {
			return nil, fmt.Errorf("item %d: channel %q: %w", i+1, it.Channel, err)
		}
		wm := it.Formats.WSMessage
		if wm == nil {
			continue // http-response, http-stream: nothing here subscribes to them
		}
		m := pushpinMessage{topic: topic, op: router.OpText}
		switch {
		case wm.Action == "close":
			code := 1000
			if wm.Code != nil {
				code = *wm.Code
			}
			if code < 1000 || code > 4999 || code == 1005 || code == 1006 || code == 1015 {
				return nil, fmt.Errorf("item %d: close code %d cannot be sent", i+1, code)
			}
			reason := wm.Reason
			if len(reason) > 123 {
				reason = reason[:123]
			}
			m.op = router.OpClose
			m.payload = binary.BigEndian.AppendUint16(nil, uint16(code))
			m.payload = append(m.payload, reason...)
		case wm.Action != "" && wm.Action != "send":
			return nil, fmt.Errorf("item %d: unknown ws-message action %q", i+1, wm.Action)
		case wm.ContentBin != nil:
			b, err := base64.StdEncoding.DecodeString(*wm.ContentBin)
			if err != nil {
				return nil, fmt.Errorf("item %d: content-bin: %w", i+1, err)
			}
			m.op, m.payload = router.OpBinary, b
		case wm.Content != nil:
			m.payload = []byte(*wm.Content)
		default:
			return nil, fmt.Errorf("item %d: ws-message without content, content-bin or action", i+1)
		}
		switch wm.Type {
		case "binary":
			if m.op == router.OpText {
				m.op = router.OpBinary
			}
		case "text":
			if m.op == router.OpBinary {
				m.op = router.OpText
			}
		}
		if len(m.payload) > maxMessage {
			return nil, fmt.Errorf("item %d: message over -max-message-bytes", i+1)
		}
		out = append(out, m)
	}
	return out, nil
}
