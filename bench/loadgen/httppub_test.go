package loadgen

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Pushpin's publish format, as its handler and wsgate's POST /publish/ read it.
func TestPushpinBody(t *testing.T) {
	var got struct {
		Items []struct {
			Channel string `json:"channel"`
			Formats map[string]struct {
				ContentBin string `json:"content-bin"`
			} `json:"formats"`
		} `json:"items"`
	}
	if err := json.Unmarshal(pushpinBody("chat", []byte{1, 2, 0xff}), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != 1 || got.Items[0].Channel != "chat" {
		t.Fatalf("items %+v", got.Items)
	}
	b, err := base64.StdEncoding.DecodeString(got.Items[0].Formats["ws-message"].ContentBin)
	if err != nil || string(b) != "\x01\x02\xff" {
		t.Fatalf("content-bin %q (%v)", b, err)
	}
}

// The publisher stamps sequence numbers in order and counts a 202 as a
// failure in Pushpin's format (pushpin-publish does the same).
func TestHTTPPublisherSequenceAndStatus(t *testing.T) {
	var seqs []uint64
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Items []struct {
				Formats map[string]struct {
					ContentBin string `json:"content-bin"`
				} `json:"formats"`
			} `json:"items"`
		}
		if err := json.Unmarshal(body, &req); err == nil && len(req.Items) == 1 {
			p, _ := base64.StdEncoding.DecodeString(req.Items[0].Formats["ws-message"].ContentBin)
			if len(p) == 64 {
				seqs = append(seqs, binary.LittleEndian.Uint64(p))
			}
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	cfg := &Config{PublishURL: srv.URL + "/publish/", PublishFormat: PublishPushpin, PublishChannel: "chat", Size: 64}
	p, err := newHTTPPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &bcastHandler{total: 5, interval: int64(time.Millisecond)}
	h.start.Store(nanotime())
	p.run(h, make(chan struct{}))
	if len(seqs) != 5 || seqs[0] != 0 || seqs[4] != 4 || p.errors.Load() != 0 || h.sent.Load() != 5 {
		t.Fatalf("seqs %v errors %d sent %d", seqs, p.errors.Load(), h.sent.Load())
	}
	status = http.StatusAccepted
	if _, ok := p.post(9); ok || p.errors.Load() != 1 {
		t.Fatalf("202 accepted as success (errors %d)", p.errors.Load())
	}
	if _, err := newHTTPPublisher(&Config{PublishURL: srv.URL, PublishFormat: "nope", Size: 64}); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// The broadcast scenario with the HTTP publisher against the real gateway:
// every connection subscribes to topic chat (the default route), messages go
// to POST /publish/ on the admin listener in Pushpin's format, and every one
// of them is delivered to every connection; the hello-free topic route has no
// foreign messages.
func TestBroadcastHTTPPublisherGateway(t *testing.T) {
	e2eSkip(t)
	g := startWsgate(t, buildWsgate(t), "-event-loops", "2")
	for _, format := range []string{PublishPushpin, PublishWsgate} {
		url := "http://" + g.admin + "/publish/"
		if format == PublishWsgate {
			url = "http://" + g.admin + "/v1/publish/chat"
		}
		res, err := Run(Config{
			Scenario: "broadcast", URL: "ws://" + g.addr + "/ws", Conns: 50, Sources: "127.0.1.1-127.0.1.4", Loops: 2,
			DialRate: 2000, MaxInflight: 50, HandshakeTimeout: 10 * time.Second, Duration: time.Second, Rate: 20,
			Size: 64, Drain: 5 * time.Second, Settle: 200 * time.Millisecond, Deadline: 60 * time.Second,
			GatewayPIDs: []int{g.cmd.Process.Pid},
			PublishURL:  url, PublishFormat: format, PublishChannel: "chat",
		})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		b := res.Broadcast
		t.Logf("%s: subscribers %d published %d expected %d received %d missing %d publish errors %d (%s)",
			format, b.Subscribers, b.Published, b.Expected, b.Received, b.Missing, b.PublishErrors, b.PublishLastError)
		if b.Subscribers != 50 || b.Published != 20 || b.Expected != 1000 || b.Received != 1000 ||
			b.Missing != 0 || b.Duplicates != 0 || b.PublishErrors != 0 || !b.Drained || b.CPUUsPerDelivery <= 0 {
			t.Fatalf("%s: %+v", format, b)
		}
	}
}
