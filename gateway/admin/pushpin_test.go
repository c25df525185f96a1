package admin

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wsgate/wsgate/router"
)

// fullBus takes room messages, then refuses.
type fullBus struct {
	room int
	got  []string
}

func (b *fullBus) Publish(topic string, op router.OpCode, payload []byte) error {
	if len(b.got) >= b.room {
		return errors.New("bus full")
	}
	b.got = append(b.got, topic+" "+string(rune('0'+op))+" "+string(payload))
	return nil
}
func (b *fullBus) Close() error { return nil }

func TestPushpinPublish(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		room       int
		code       int
		answer     string
		got        string
	}{
		{"text, binary, typed and close in order", `{"items":[
			{"channel":"a","id":"1","prev-id":"0","meta":{"x":"y"},"formats":{"ws-message":{"content":"hi"},"http-response":{"body":"x"}}},
			{"channel":"a","formats":{"ws-message":{"content-bin":"AAE="}}},
			{"channel":"b%20c","formats":{"ws-message":{"content":"t","type":"binary"}}},
			{"channel":"b","formats":{"http-stream":{"content":"only for HTTP"}}},
			{"channel":"a","formats":{"ws-message":{"action":"close","code":4001,"reason":"bye"}}},
			{"channel":"a","formats":{"ws-message":{"action":"close"}}}]}`, 10, 200, "Published\n",
			"a 1 hi|a 2 \x00\x01|b c 2 t|a 8 \x0f\xa1bye|a 8 \x03\xe8"},
		{"the bus takes one of two", `{"items":[{"channel":"a","formats":{"ws-message":{"content":"1"}}},
			{"channel":"a","formats":{"ws-message":{"content":"2"}}}]}`, 1, 503, "bus refused item 2 of 2 (1 published): bus full\n", "a 1 1"},
		{"unknown action", `{"items":[{"channel":"a","formats":{"ws-message":{"action":"hint"}}}]}`, 10, 400, "", ""},
		{"no content", `{"items":[{"channel":"a","formats":{"ws-message":{}}}]}`, 10, 400, "", ""},
		{"empty items", `{"items":[]}`, 10, 200, "Published\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bus := &fullBus{room: tc.room}
			s := New(nil, Options{Config: Config{MaxMessageBytes: 1 << 20}, Bus: bus,
				PublishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})})
			rec := httptest.NewRecorder()
			s.pushpinPublishHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/publish/", strings.NewReader(tc.body)))
			if rec.Code != tc.code || (tc.answer != "" && rec.Body.String() != tc.answer) {
				t.Errorf("%d %q, want %d %q", rec.Code, rec.Body.String(), tc.code, tc.answer)
			}
			if got := strings.Join(bus.got, "|"); got != tc.got {
				t.Errorf("bus got %q, want %q", got, tc.got)
			}
		})
	}
}
