package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/wsgate/wsgate/router/bus/kcattest"
)

// TestGripClusterKafka: two gateway nodes on the Kafka bus (the dev broker, cluster_e2e_test.go). A
// client on node A is subscribed by its GRIP backend; Pushpin's publisher posts to node B's
// /publish/. After detach the backend holds no socket and the client still receives; the close
// action crosses the bus too.
func TestGripClusterKafka(t *testing.T) {
	requireE2E(t, true, false)
	kcattest.Path(t)
	broker := startKafkadev(t, "127.0.0.1:0", "")
	be := startGripBackend(t, "g1")
	var nodes []*testGateway
	for i := range 2 {
		// No -publish-token: pushpin-publish has no bearer option (README), and the admin
		// listener is on loopback.
		nodes = append(nodes, startGateway(t, "-kafka-brokers", broker.Addr, "-node-id", fmt.Sprintf("n%d", i),
			"-drain-time", "100ms", "-backend", "app="+be.Addr()+";grip", "-route", "/app=backend:app"))
	}
	waitBusHealthy(t, nodes, 15*time.Second, "")
	a, b := nodes[0], nodes[1]
	p := startWSPeer(t, a.wsURL("/app?channel=scores"), 30*time.Second)
	gripHello(t, p)

	pushpinPublish(t, b.Admin, "scores", "1-0")
	wantText(t, p, "1-0")

	p.send(t, map[string]any{"text": `{"cmd":"detach"}`})
	deadline := time.Now().Add(5 * time.Second)
	for backendSockets(t, be) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the backend still holds the socket after detach")
		}
		time.Sleep(50 * time.Millisecond)
	}
	pushpinPublish(t, b.Admin, "scores", "2-0")
	wantText(t, p, "2-0")
	if code, body := pushpinPost(t, b.Admin, `{"items":[{"channel":"scores","formats":{"ws-message":{"content":"2-1"}}},`+
		`{"channel":"scores","formats":{"ws-message":{"action":"close","code":4000,"reason":"game over"}}}]}`); code != 200 {
		t.Fatalf("POST /publish/: %d %s", code, body)
	}
	wantText(t, p, "2-1")
	if ev := nextMessage(t, p); ev.Ev != "close" || ev.Code != 4000 || ev.Reason != "game over" {
		t.Fatalf("close action across the bus: %+v, want close 4000 game over", ev)
	}
}
