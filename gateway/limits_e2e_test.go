package gateway_test

// The stats page on the admin listener, and the per-IP connection limit.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// flStats mirrors the stats page's JSON.
type flStats struct {
	Node struct {
		Connections int64  `json:"connections"`
		Subscribers int64  `json:"subscribers"`
		Goroutines  int    `json:"goroutines"`
		Uptime      string `json:"uptime"`
		Bus         string `json:"bus"`
	} `json:"node"`
	Routes []struct {
		Spec   string `json:"spec"`
		Target string `json:"target"`
	} `json:"routes"`
	Pools []struct {
		Name    string `json:"name"`
		Up      int    `json:"up"`
		Servers []struct {
			Name   string `json:"name"`
			Addr   string `json:"addr"`
			State  string `json:"state"`
			Weight int    `json:"weight"`
		} `json:"servers"`
	} `json:"pools"`
	Topics []struct {
		Name        string `json:"name"`
		Subscribers int    `json:"subscribers"`
		Messages    uint64 `json:"messages"`
	} `json:"topics"`
}

// -stats-auth: 401 without (or with wrong) credentials; ?json lists node, routes, pools (alpha UP, bravo
// DOWN: nothing listens there) and topics with their subscriber counts; the HTML names servers and states.
func TestE2EFailureStatsPage(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // "alpha": accepts (TCP checks pass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // "bravo": nothing listens
	g := startGateway(t, "-stats-auth", "admin:s3cr3t", "-drain-time", "100ms",
		"-route", "/ws=topic:chat", "-route", "/rooms/=topic:*", "-route", "/app=backend:app",
		"-backend", "app=alpha@"+ln.Addr().String()+",bravo@"+dead+";check=tcp;inter=200ms;rise=1;fall=1")
	url := "http://" + g.Admin + "/stats"

	for _, c := range []struct{ user, pass, q string }{{"", "", ""}, {"", "", "?json"}, {"admin", "wrong", "?json"}, {"root", "s3cr3t", ""}} {
		code, hdr, _, err := flGet(url+c.q, c.user, c.pass)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("GET /stats%s as %q:%q: %d (WWW-Authenticate %q), want 401 with a Basic challenge", c.q, c.user, c.pass, code, hdr.Get("WWW-Authenticate"))
		}
	}

	chat := []*rawConn{upgradeRaw(t, g.Addr, "/ws", 0), upgradeRaw(t, g.Addr, "/ws", 0), upgradeRaw(t, g.Addr, "/ws", 0)}
	upgradeRaw(t, g.Addr, "/rooms/lobby", 0)
	upgradeRaw(t, g.Addr, "/rooms/lobby", 0)
	upgradeRaw(t, g.Addr, "/rooms/kitchen", 0)
	for i := range 5 {
		writeFrames(t, chat[0], wstest.Frame{Fin: true, Op: wstest.OpText, Payload: []byte("m" + strconv.Itoa(i))})
	}
	wantTopics := map[string]int{"chat": 3, "lobby": 2, "kitchen": 1}

	var st flStats
	var body []byte
	ok := func() bool {
		topics := map[string]int{}
		for _, tp := range st.Topics {
			topics[tp.Name] = tp.Subscribers
		}
		states := map[string]string{}
		for _, p := range st.Pools {
			for _, s := range p.Servers {
				states[s.Name] = s.State
			}
		}
		chatMsgs := uint64(0)
		for _, tp := range st.Topics {
			if tp.Name == "chat" {
				chatMsgs = tp.Messages
			}
		}
		return fmt.Sprint(topics) == fmt.Sprint(wantTopics) && states["alpha"] == "UP" && states["bravo"] == "DOWN" && chatMsgs == 5
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		var code int
		code, _, body, err = flGet(url+"?json", "admin", "s3cr3t")
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET /stats?json with credentials: %d %v %s", code, err, body)
		}
		st = flStats{}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("stats JSON: %v\n%s", err, body)
		}
		if ok() || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ok() {
		t.Errorf("stats ?json never showed topics %v (chat with 5 messages), alpha UP and bravo DOWN:\n%s", wantTopics, body)
	}
	if st.Node.Connections != 6 || st.Node.Subscribers != 6 {
		t.Errorf("node: %d connections, %d subscribers, want 6 and 6", st.Node.Connections, st.Node.Subscribers)
	}
	var routes []string
	for _, r := range st.Routes {
		routes = append(routes, r.Spec+" → "+r.Target)
	}
	slices.Sort(routes)
	if want := []string{"/app=backend:app → backend:app", "/rooms/=topic:* → topic:*", "/ws=topic:chat → topic:chat"}; !slices.Equal(routes, want) {
		t.Errorf("routes %q, want %q", routes, want)
	}
	if len(st.Pools) != 1 || st.Pools[0].Name != "app" || st.Pools[0].Up != 1 || len(st.Pools[0].Servers) != 2 {
		t.Errorf("pools: %s", body)
	}

	code, _, html, err := flGet(url, "admin", "s3cr3t")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /stats: %d %v", code, err)
	}
	for _, s := range []string{"alpha", "bravo", ">UP<", ">DOWN<", ln.Addr().String(), dead, "chat", "lobby", "kitchen", "/rooms/=topic:*"} {
		if !bytes.Contains(html, []byte(s)) {
			t.Errorf("stats HTML lacks %q", s)
		}
	}
}

// -max-conns-per-ip 3: the 4th connection from one address gets 503 and is counted under
// wsgate_refused_connections_total{limit="max-conns-per-ip"}; once one of the three closes, a new one
// is served again.
func TestE2EFailureMaxConnsPerIP(t *testing.T) {
	requireE2E(t, false, false)
	t.Parallel()
	g := startGateway(t, "-max-conns-per-ip", "3", "-drain-time", "100ms")
	var held []*rawConn
	for range 3 {
		held = append(held, upgradeRaw(t, g.Addr, "/ws", 0))
	}
	c := dialRaw(t, g.Addr)
	resp := readResponse(t, c, 5*time.Second) // the gateway answers at accept, before any request
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("4th connection: status %d, want 503", resp.StatusCode)
	}
	if !c.WaitEOF(3 * time.Second) {
		t.Errorf("4th connection: still open after the 503")
	}
	m := scrapeMetrics(t, g.Admin)
	if got, _ := m.get("wsgate_refused_connections_total", `limit="max-conns-per-ip"`); got != 1 {
		t.Errorf(`wsgate_refused_connections_total{limit="max-conns-per-ip"} = %v, want 1`, got)
	}
	m.atLeast(t, "wsgate_http_responses_total", `code="503"`, 1)

	held[0].Close()
	refusedMore := 0
	for deadline := time.Now().Add(5 * time.Second); ; {
		rc, err := flDialWS(g.Addr, "/ws")
		if err == nil {
			rc.Close()
			break
		}
		refusedMore++
		if time.Now().After(deadline) {
			t.Fatalf("no connection served within 5s after one of the three closed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, _ := scrapeMetrics(t, g.Admin).get("wsgate_refused_connections_total", `limit="max-conns-per-ip"`); got != float64(1+refusedMore) {
		t.Errorf("refused connections counted %v, want %d", got, 1+refusedMore)
	}
}
