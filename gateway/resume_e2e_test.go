package gateway_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// resumeResult is resume-client.js's summary in --mode resume.
type resumeResult struct {
	Error        string `json:"error"`
	Clients      int    `json:"clients"`
	AllRecovered bool   `json:"allRecovered"`
	Bad          int    `json:"bad"`
	CaughtUpMs   int    `json:"caughtUpMs"`
	Sample       struct {
		Reply struct {
			ID        int `json:"id"`
			Subscribe *struct {
				Recovered *bool  `json:"recovered"`
				Offset    *int64 `json:"offset"`
				Epoch     string `json:"epoch"`
				Reason    string `json:"reason"`
			} `json:"subscribe"`
		} `json:"reply"`
		Got, Dups, Live, Extra, WrongTopic int
		InOrder                            bool   `json:"inOrder"`
		First                              string `json:"first"`
		Last                               string `json:"last"`
	} `json:"sample"`
}

func runResumeClient(t *testing.T, g *testGateway, path string, n, clients int) resumeResult {
	t.Helper()
	requireE2E(t, true, false)
	var r resumeResult
	runNodeJSON(t, 90*time.Second, &r, "resume-client.js", "--url", g.wsURL(path), "--admin", "http://"+g.Admin,
		"--topic", "chat", "--n", strconv.Itoa(n), "--clients", strconv.Itoa(clients), "--timeout", "80000")
	if r.Error != "" {
		t.Fatalf("resume-client.js: %s", r.Error)
	}
	return r
}

// A Node ws client on wsgate.v1 loses its TCP connection, 500 messages are published through the
// publish API, it reconnects with its last position: exactly those 500, in order, no duplicate,
// recovered:true, then live messages with no gap and no duplicate.
func TestResumeFromMemory(t *testing.T) {
	g := startGateway(t, "-route", "/ws=topic:chat", "-history-size", "1000")
	r := runResumeClient(t, g, "/ws", 500, 1)
	s := r.Sample
	if rep := s.Reply.Subscribe; rep == nil || rep.Recovered == nil || !*rep.Recovered || rep.Offset == nil || rep.Epoch == "" {
		t.Fatalf("reply: %+v", s.Reply)
	}
	if s.Got != 500 || !s.InOrder || s.Dups != 0 || s.First != "m-0" || s.Last != "m-499" || s.WrongTopic != 0 {
		t.Fatalf("recovered %d messages (first %q last %q), in order %v, %d duplicates, %d without the topic", s.Got, s.First, s.Last, s.InOrder, s.Dups, s.WrongTopic)
	}
	if s.Live != 5 || s.Extra != 0 || r.Bad != 0 {
		t.Fatalf("live after the catch-up: %d of 5, %d extra frames; %d bad clients", s.Live, s.Extra, r.Bad)
	}
	if v := v1Metric(t, g, "wsgate_resume_total{result=\"recovered\"}"); v != 1 {
		t.Errorf("wsgate_resume_total recovered = %v, want 1", v)
	}
	if v := v1Metric(t, g, "wsgate_history_messages"); v != 506 {
		t.Errorf("wsgate_history_messages = %v, want 506", v)
	}
}

// A gap beyond the history (-history-size) or beyond -resume-max-messages: recovered:false with
// the current position, then live messages from there.
func TestResumeGapBeyondHistory(t *testing.T) {
	for _, flags := range [][]string{{"-history-size", "100"}, {"-history-size", "1000", "-resume-max-messages", "100"}} {
		g := startGateway(t, append([]string{"-route", "/ws=topic:chat"}, flags...)...)
		r := runResumeClient(t, g, "/ws", 200, 1)
		rep := r.Sample.Reply.Subscribe
		if rep == nil || rep.Recovered == nil || *rep.Recovered || rep.Offset == nil || rep.Epoch == "" || rep.Reason == "" {
			t.Fatalf("%v: reply %+v, want recovered:false with offset, epoch, reason", flags, rep)
		}
		if r.Sample.Got != 0 || r.Sample.Live != 5 || !r.Sample.InOrder || r.Sample.Extra != 0 {
			t.Fatalf("%v: after recovered:false: %d recovered, %d live of 5, in order %v, %d extra", flags, r.Sample.Got, r.Sample.Live, r.Sample.InOrder, r.Sample.Extra)
		}
		if v := v1Metric(t, g, "wsgate_resume_total{result=\"not_recovered\"}"); v != 1 {
			t.Errorf("%v: wsgate_resume_total not_recovered = %v, want 1", flags, v)
		}
	}
}

// Many clients resume from memory at once: every one recovered, whole, in order.
func TestResumeManyClients(t *testing.T) {
	g := startGateway(t, "-route", "/ws=topic:chat", "-history-size", "1000")
	r := runResumeClient(t, g, "/ws", 200, 50)
	if r.Clients != 50 || !r.AllRecovered || r.Bad != 0 {
		t.Fatalf("%d clients, all recovered %v, %d bad", r.Clients, r.AllRecovered, r.Bad)
	}
	t.Logf("50 clients each 200 messages behind: all caught up in %d ms", r.CaughtUpMs)
}

// v1Metric reads one sample of the admin /metrics page (exact series text); a missing one fails.
func v1Metric(t *testing.T, g *testGateway, series string) float64 {
	t.Helper()
	v, ok := metricSample(t, g, series)
	if !ok {
		t.Fatalf("metric %s not found", series)
	}
	return v
}

// metricSample reads one sample of the admin /metrics page (exact series text), and whether it is there.
func metricSample(t *testing.T, g *testGateway, series string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + g.Admin + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", series, v)
			}
			return f, true
		}
	}
	return 0, false
}

// The browser client the gateway serves (GET /wsgate.js), run in Node with ws: messages keep
// coming while its TCP connection is destroyed twice; it reconnects with backoff, resumes from its
// last position and sees every message exactly once, in order, recovered each time.
func TestWsgateJSResume(t *testing.T) {
	requireE2E(t, true, false)
	g := startGateway(t, "-route", "/ws=topic:chat", "-history-size", "5000")
	var out struct {
		Error    string `json:"error"`
		Seen     int    `json:"seen"`
		InOrder  bool   `json:"inOrder"`
		Kills    int    `json:"kills"`
		Recovers []struct {
			Topic     string `json:"topic"`
			Recovered bool   `json:"recovered"`
			Messages  int    `json:"messages"`
		} `json:"recovers"`
		Recovered bool `json:"recovered"`
	}
	runNodeJSON(t, 60*time.Second, &out, "resume-client.js", "--mode", "wsgatejs", "--url", g.wsURL("/ws"),
		"--admin", "http://"+g.Admin, "--topic", "chat", "--n", "1500", "--timeout", "50000")
	if out.Error != "" {
		t.Fatalf("resume-client.js: %s", out.Error)
	}
	if out.Seen != 1500 || !out.InOrder || out.Kills != 2 {
		t.Fatalf("saw %d of 1500 messages, in order %v, after %d connection kills", out.Seen, out.InOrder, out.Kills)
	}
	if len(out.Recovers) != 2 || !out.Recovers[0].Recovered || !out.Recovers[1].Recovered || !out.Recovered {
		t.Fatalf("resumes: %+v, recovered %v", out.Recovers, out.Recovered)
	}
	t.Logf("resumes (messages recovered each): %+v", out.Recovers)
	resp, err := http.Get("http://" + g.Addr + "/wsgate.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET /wsgate.js: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// Headless Chromium runs wsgate.js from the built-in page through a TCP proxy that destroys every
// connection twice while messages keep coming: the page (and its own client) reconnects, resumes,
// and sees every message exactly once, in order.
func TestWsgateJSBrowserResume(t *testing.T) {
	requireE2E(t, true, true)
	g := startGateway(t, "-route", "/ws=topic:chat", "-history-size", "5000")
	var out struct {
		Error         string   `json:"error"`
		ConsoleErrors []string `json:"consoleErrors"`
		Seen          int      `json:"seen"`
		InOrder       bool     `json:"inOrder"`
		Kills         int      `json:"kills"`
		Recovered     bool     `json:"recovered"`
		PageLog       int      `json:"pageLog"`
		Recovers      []struct {
			Recovered bool `json:"recovered"`
			Messages  int  `json:"messages"`
		} `json:"recovers"`
	}
	runNodeJSON(t, 100*time.Second, &out, "resume-browser.js", "--gateway", g.Addr, "--admin", "http://"+g.Admin,
		"--n", "900", "--chromium", chromiumPath)
	if out.Error != "" {
		t.Fatalf("resume-browser.js: %s (console: %v)", out.Error, out.ConsoleErrors)
	}
	if out.Seen != 900 || !out.InOrder || out.Kills != 2 || len(out.Recovers) != 2 || !out.Recovered {
		t.Fatalf("browser: saw %d of 900, in order %v, %d kills, resumes %+v, recovered %v", out.Seen, out.InOrder, out.Kills, out.Recovers, out.Recovered)
	}
	// The page's own chat client resumed too: every message in its log, once.
	if out.PageLog != 900 {
		t.Errorf("the built-in page's log shows %d messages, want 900", out.PageLog)
	}
	t.Logf("browser resumes: %+v; console errors: %v", out.Recovers, out.ConsoleErrors)
}

// -resume-rate: 200 Node ws clients, each 200 messages behind (~12 KB of recovered frames each,
// ~2.4 MB together), resume at once against a node that writes recovered frames at 1 MB/s. Every
// one is recovered whole, in order, then live; the node counts the resumes that waited; and the
// storm takes at least what the rate allows for the bytes beyond the bucket (128 KiB).
func TestResumePaced(t *testing.T) {
	g := startGateway(t, "-route", "/ws=topic:chat", "-history-size", "1000", "-resume-rate", "1000000")
	r := runResumeClient(t, g, "/ws", 200, 200)
	if !r.AllRecovered || r.Bad != 0 || r.Clients != 200 {
		t.Fatalf("paced resume: %+v", r)
	}
	if v := v1Metric(t, g, `wsgate_resume_total{result="recovered"}`); v != 200 {
		t.Errorf("wsgate_resume_total recovered = %v, want 200", v)
	}
	paced := v1Metric(t, g, "wsgate_resume_paced_total")
	if paced < 100 {
		t.Errorf("wsgate_resume_paced_total = %v, want most of the 200 to have waited", paced)
	}
	if r.CaughtUpMs < 1500 {
		t.Errorf("all caught up in %d ms: faster than 1 MB/s allows for ~2.4 MB", r.CaughtUpMs)
	}
	t.Logf("200 clients x 200 messages at 1 MB/s: caught up in %d ms, %v waited", r.CaughtUpMs, paced)
}
