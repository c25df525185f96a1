package loadgen

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Publish formats of the broadcast scenario's HTTP publisher (-publish-url):
// every connection is then a subscriber and the messages are POSTed to a
// server's publish endpoint instead of sent on a WebSocket connection.
const (
	// PublishPushpin is Pushpin's (GRIP) publish format, what Pushpin's own
	// port 5561 and wsgate's admin listener take at POST /publish/:
	// {"items":[{"channel":C,"formats":{"ws-message":{"content-bin":B64}}}]},
	// answered 200.
	PublishPushpin = "pushpin"
	// PublishWsgate is wsgate's publish API, POST /v1/publish/{topic} with
	// the raw payload (binary=1 is added), answered 2xx.
	PublishWsgate = "wsgate"
)

// httpPublisher posts the broadcast scenario's messages (sequence number and
// monotonic send time in the first 16 bytes, like the WebSocket publisher).
type httpPublisher struct {
	url, format, channel string
	cl                   *http.Client
	msg                  []byte
	errors               atomic.Int64
	lastErr              atomic.Value // string
}

func newHTTPPublisher(cfg *Config) (*httpPublisher, error) {
	p := &httpPublisher{url: cfg.PublishURL, format: cfg.PublishFormat, channel: cfg.PublishChannel,
		cl: &http.Client{Timeout: 10 * time.Second}, msg: make([]byte, cfg.Size)}
	switch p.format {
	case PublishPushpin:
	case PublishWsgate:
		if strings.Contains(p.url, "?") {
			p.url += "&binary=1"
		} else {
			p.url += "?binary=1"
		}
	default:
		return nil, fmt.Errorf("unknown -publish-format %q (%s or %s)", p.format, PublishPushpin, PublishWsgate)
	}
	return p, nil
}

// pushpinBody is one publish request in Pushpin's format, one item.
func pushpinBody(channel string, payload []byte) []byte {
	type wsMessage struct {
		ContentBin string `json:"content-bin"`
	}
	type item struct {
		Channel string               `json:"channel"`
		Formats map[string]wsMessage `json:"formats"`
	}
	b, _ := json.Marshal(struct {
		Items []item `json:"items"`
	}{[]item{{Channel: channel, Formats: map[string]wsMessage{"ws-message": {base64.StdEncoding.EncodeToString(payload)}}}}})
	return b
}

// post sends message seq stamped with the clock now; it reports success.
func (p *httpPublisher) post(seq uint64) (ts int64, ok bool) {
	binary.LittleEndian.PutUint64(p.msg[0:8], seq)
	ts = nanotime()
	binary.LittleEndian.PutUint64(p.msg[8:16], uint64(ts))
	body, ctype := p.msg, "application/octet-stream"
	if p.format == PublishPushpin {
		body, ctype = pushpinBody(p.channel, p.msg), "application/json"
	}
	resp, err := p.cl.Post(p.url, ctype, bytes.NewReader(body))
	if err != nil {
		p.fail(err.Error())
		return ts, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	// Pushpin's publishers treat anything but 200 as a failure.
	if (p.format == PublishPushpin && resp.StatusCode != http.StatusOK) || resp.StatusCode/100 != 2 {
		p.fail(resp.Status)
		return ts, false
	}
	return ts, true
}

func (p *httpPublisher) fail(msg string) {
	p.errors.Add(1)
	p.lastErr.Store(msg)
}

// run publishes h.total messages on a fixed schedule from h.start (message i
// is due at start + i·interval whatever the previous request took); a
// failed post still takes its sequence number, so receivers count it as a gap.
func (p *httpPublisher) run(h *bcastHandler, stop <-chan struct{}) {
	start := h.start.Load()
	for i := int64(0); i < h.total; i++ {
		if d := start + i*h.interval - nanotime(); d > 0 {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(d)):
			}
		}
		ts, ok := p.post(uint64(i))
		if ok {
			if h.first.Load() == 0 {
				h.first.Store(ts)
			}
			h.last.Store(ts)
		}
		h.sent.Store(i + 1)
	}
}
