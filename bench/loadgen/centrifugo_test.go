package loadgen

import (
	"encoding/json"
	"testing"
)

// A publish command is valid JSON of the size asked, and the push Centrifugo
// makes of it yields the same sequence and timestamp.
func TestCentrifugoPublishRoundTrip(t *testing.T) {
	b := appendCentrifugoPublish(nil, 7, 42, 123456789012, 64)
	var cmd struct {
		ID      int `json:"id"`
		Publish struct {
			Channel string          `json:"channel"`
			Data    json.RawMessage `json:"data"`
		} `json:"publish"`
	}
	if err := json.Unmarshal(b, &cmd); err != nil {
		t.Fatalf("publish command %s: %v", b, err)
	}
	if cmd.ID != 7 || cmd.Publish.Channel != "chat" || len(cmd.Publish.Data) != 64 {
		t.Errorf("publish command %s: id %d channel %q data %d bytes, want 7 chat 64", b, cmd.ID, cmd.Publish.Channel, len(cmd.Publish.Data))
	}
	push := []byte(`{"push":{"channel":"chat","pub":{"data":` + string(cmd.Publish.Data) + `,"offset":3}}}`)
	seq, ok1 := jsonUint(push, cfSeq)
	ts, ok2 := jsonUint(push, cfTime)
	if !ok1 || !ok2 || seq != 42 || ts != 123456789012 {
		t.Errorf("push %s: seq %d (%v) ts %d (%v), want 42 and 123456789012", push, seq, ok1, ts, ok2)
	}
}
