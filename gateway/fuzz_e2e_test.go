package gateway_test

// A storm of malformed requests and frames (mutated seeds and random frames) from many raw clients at
// once; the gateway answers each with a status or a close and keeps serving a well-behaved client.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsgate/wsgate/codec/wstest"
)

// flSeeds reads the codec fuzz corpus files of one target: the first []byte("...") value of each.
func flSeeds(t *testing.T, target string) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "codec", "testdata", "fuzz", target, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fuzz corpus for %s (%v)", target, err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if lit, ok := strings.CutPrefix(line, "[]byte("); ok {
				s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				out = append(out, []byte(s))
				break
			}
		}
	}
	return out
}

// flMutate applies 1–4 random mutations: bit flips, byte sets, truncation, insertions, deletions,
// repeated ranges (which can push a head over -max-header-bytes), splices and delimiter bytes.
func flMutate(r *rand.Rand, b []byte, seeds [][]byte) []byte {
	b = bytes.Clone(b)
	special := []byte{'\r', '\n', ':', ' ', '\t', 0, 0x7f, 0x80, 0xff, ',', ';', '='}
	for k := 1 + r.IntN(4); k > 0; k-- {
		if len(b) == 0 {
			b = append(b, byte(r.IntN(256)))
		}
		i := r.IntN(len(b))
		switch r.IntN(9) {
		case 0:
			b[i] ^= 1 << r.IntN(8)
		case 1:
			b[i] = byte(r.IntN(256))
		case 2:
			b = b[:i]
		case 3:
			ins := make([]byte, 1+r.IntN(16))
			for j := range ins {
				ins[j] = byte(r.IntN(256))
			}
			b = slices.Insert(b, i, ins...)
		case 4:
			b = slices.Delete(b, i, i+r.IntN(len(b)-i)+1)
		case 5:
			j := i + 1 + r.IntN(min(64, len(b)-i))
			part := bytes.Repeat(b[i:j], 1+r.IntN(600))
			b = slices.Insert(b, j, part...)
		case 6:
			o := seeds[r.IntN(len(seeds))]
			b = append(b[:i], o[r.IntN(len(o)+1):]...)
		case 7, 8:
			b[i] = special[r.IntN(len(special))]
		}
	}
	if len(b) > 64<<10 {
		b = b[:64<<10]
	}
	return b
}

// flRandomFrames builds 1–4 client frames, most of them invalid in some way.
func flRandomFrames(r *rand.Rand) []byte {
	ops := []byte{wstest.OpCont, wstest.OpText, wstest.OpBinary, 3, 7, wstest.OpClose, wstest.OpPing, wstest.OpPong, 0xB, 0xF}
	var out []byte
	for k := 1 + r.IntN(4); k > 0; k-- {
		f := wstest.Frame{Fin: r.IntN(4) != 0, Op: ops[r.IntN(len(ops))], Unmasked: r.IntN(8) == 0}
		if r.IntN(6) == 0 {
			f.RSV = byte(1 + r.IntN(7))
		}
		switch r.IntN(6) {
		case 0:
			f.Payload = []byte("ok \xff\xfe \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80")[r.IntN(4):]
		case 1:
			f.Payload = bytes.Repeat([]byte{'x'}, 126+r.IntN(300))
		case 2:
			f.Payload, f.DeclaredLen = []byte("big"), 65537+r.IntN(1<<24)
		case 3:
			codes := []uint16{0, 999, 1000, 1004, 1005, 1006, 1015, 1016, 2999, 3000, 4999, 5000, 65535}
			f.Op = wstest.OpClose
			f.Payload = binary.BigEndian.AppendUint16(nil, codes[r.IntN(len(codes))])
			if r.IntN(2) == 0 {
				f.Payload = append(f.Payload, "reason \xff"[:r.IntN(9)]...)
			}
		default:
			f.Payload = []byte(fmt.Sprintf("storm %d", r.IntN(1e6)))
		}
		out = append(out, wstest.Encode(f)...)
	}
	return out
}

// flStormResult is what one malformed case got.
type flStormResult struct {
	status    int  // HTTP status received (0: none)
	closeCode int  // close code received (0: none)
	upgraded  bool // the case went past the handshake
	timeout   bool // neither an answer nor an end within the read deadline
	dialErr   error
	ran       bool
}

// 10k malformed cases (fuzz corpus + mutations + generated frames; half HTTP heads, half frames after a
// valid upgrade, with and without permessage-deflate) over 32 concurrent connections: the gateway stays
// up (/healthz 200 throughout), counts at least every refusal the clients saw (per status and close
// code), and a subscriber + publisher pair on another topic keeps getting messages during the storm.
func TestE2EFailureMalformedStorm(t *testing.T) {
	requireE2E(t, false, false)
	const cases, workers = 10000, 32
	headSeeds := flSeeds(t, "FuzzParseRequestHead")
	frameSeeds := flSeeds(t, "FuzzParserNext")
	g := startGateway(t, "-route", "/ws=topic:chat", "-route", "/fz=topic:fuzz", "-compression",
		"-max-message-bytes", "65536", "-handshake-timeout", "2s", "-drain-time", "100ms")
	host := g.Addr
	for _, p := range []string{"/fz", "/ws", "/", "/nope", "/fz/x?y=1"} {
		headSeeds = append(headSeeds, []byte(wstest.UpgradeRequest(host, p, wstest.NewKey())))
	}
	headSeeds = append(headSeeds,
		[]byte(strings.Replace(wstest.UpgradeRequest(host, "/fz", wstest.NewKey()), "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1)),
		[]byte("GET / HTTP/1.1\r\nHost: "+host+"\r\n\r\n"),
		[]byte("POST /fz HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
		[]byte("GET /fz HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\nUpgrade: websocket\r\n\r\n"))
	seed := uint64(time.Now().UnixNano())
	t.Logf("storm seed %d (cases are a function of the seed and their index)", seed)

	// The good pair, on topic chat.
	sub := dialCluster(t, g, 0, "/ws")
	goodPub := dialCluster(t, g, 0, "/ws")
	before := scrapeMetrics(t, g.Admin)

	stop := make(chan struct{})
	var bg sync.WaitGroup
	var goodSent []time.Time
	bg.Add(2)
	go func() { // publisher: one message every 20 ms while the storm runs
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			goodSent = append(goodSent, time.Now())
			if err := goodPub.send(fmt.Sprintf("good-%05d", i)); err != nil {
				goodSent = goodSent[:len(goodSent)-1]
				t.Errorf("good publisher: %v", err)
				return
			}
		}
	}()
	var healthBad []string
	var healthChecks int
	go func() { // /healthz every 200 ms
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			healthChecks++
			if body, code := healthz(g); code != http.StatusOK {
				healthBad = append(healthBad, fmt.Sprintf("%d %q", code, body))
			}
		}
	}()

	results := make([]flStormResult, cases)
	stormStart := time.Now()
	runCase := func(i int) {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		res := &results[i]
		res.ran = true
		if i%2 == 0 {
			data := flMutate(r, headSeeds[r.IntN(len(headSeeds))], headSeeds)
			c, err := net.DialTimeout("tcp", g.Addr, 5*time.Second)
			if err != nil {
				res.dialErr = err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(6 * time.Second))
			_, _ = c.Write(data)
			if !bytes.Contains(data, []byte("\r\n\r\n")) && !bytes.Contains(data, []byte("\n\n")) {
				_ = c.(*net.TCPConn).CloseWrite() // an incomplete head: tell the gateway nothing more comes
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				res.timeout = isTimeout(err)
				return
			}
			res.status = resp.StatusCode
			res.upgraded = resp.StatusCode == http.StatusSwitchingProtocols
			return
		}
		var hdr []string
		if r.IntN(2) == 0 {
			hdr = append(hdr, "Sec-WebSocket-Extensions: permessage-deflate")
		}
		c, err := flDialWS(g.Addr, "/fz", hdr...)
		if err != nil {
			res.dialErr = err
			return
		}
		defer c.Close()
		res.upgraded = true
		var data []byte
		switch r.IntN(3) {
		case 0:
			data = flMutate(r, frameSeeds[r.IntN(len(frameSeeds))], frameSeeds)
		case 1:
			data = flRandomFrames(r)
		default:
			data = flMutate(r, flRandomFrames(r), frameSeeds)
		}
		data = append(data, wstest.Encode(wstest.Frame{Fin: true, Op: wstest.OpClose, Payload: []byte{0x03, 0xe8}})...)
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(data)
		_ = c.Conn.(*net.TCPConn).CloseWrite()
		e := flWaitEnd(c, time.Now().Add(6*time.Second))
		res.timeout = e.kind == "timeout"
		if e.kind == "close" {
			res.closeCode = e.code
		}
	}
	skipped := flParallel(cases, workers, 100, func(i int) bool {
		runCase(i)
		return results[i].dialErr == nil && !results[i].timeout
	})
	stormTime := time.Since(stormStart)
	if skipped > 0 {
		t.Errorf("%d cases not run: over 100 cases could not connect or hung", skipped)
	}
	close(stop)
	bg.Wait()

	// Tally what the clients saw.
	observed := map[string]int{} // "400" or "close 1002" → cases
	statuses := map[int]int{}
	closeCodes := map[int]int{}
	var upgraded, timeouts, noAnswer int
	var dialErrs []string
	for i, res := range results {
		switch {
		case !res.ran:
			continue
		case res.dialErr != nil:
			dialErrs = append(dialErrs, fmt.Sprintf("case %d: %v", i, res.dialErr))
			continue
		case res.timeout:
			timeouts++
		}
		if res.upgraded {
			upgraded++
		}
		if res.status != 0 {
			statuses[res.status]++
			if res.status >= 400 && res.status < 500 {
				observed[strconv.Itoa(res.status)]++
			}
		} else if i%2 == 0 && !res.timeout {
			noAnswer++
		}
		if res.closeCode != 0 {
			closeCodes[res.closeCode]++
			if res.closeCode == 1002 || res.closeCode == 1007 || res.closeCode == 1009 {
				observed["close "+strconv.Itoa(res.closeCode)]++
			}
		}
	}
	totalObserved := 0
	for _, n := range observed {
		totalObserved += n
	}
	t.Logf("storm: %d cases in %v over %d connections at a time; HTTP statuses %v; close codes %v; %d upgraded; "+
		"%d heads got no answer (connection ended); %d read timeouts; %d dial/upgrade failures",
		cases, stormTime.Round(time.Millisecond), workers, statuses, closeCodes, upgraded, noAnswer, timeouts, len(dialErrs))
	if len(dialErrs) > cases/100 {
		t.Errorf("%d cases could not connect/upgrade; first %v", len(dialErrs), dialErrs[:min(5, len(dialErrs))])
	}
	if timeouts > 0 {
		t.Errorf("%d cases got neither an answer nor an end within 6s (the gateway kept them hanging)", timeouts)
	}

	if g.exited() {
		t.Fatalf("the gateway died during the storm")
	}
	if body, code := healthz(g); code != http.StatusOK {
		t.Errorf("/healthz after the storm: %d %q", code, body)
	}
	if len(healthBad) > 0 {
		t.Errorf("/healthz during the storm: %d of %d checks failed: %v", len(healthBad), healthChecks, healthBad[:min(5, len(healthBad))])
	}

	// Counted refusals: per status and close code, the gateway counted at least what the clients saw.
	after := scrapeMetrics(t, g.Admin)
	counted := map[string]int{}
	hb, ha := before.byLabel("wsgate_http_responses_total", "code"), after.byLabel("wsgate_http_responses_total", "code")
	for code, v := range ha {
		if c, _ := strconv.Atoi(code); c >= 400 && c < 500 {
			counted[code] = int(v - hb[code])
		}
	}
	cb, ca := before.byLabel("wsgate_closes_total", "code"), after.byLabel("wsgate_closes_total", "code")
	for _, code := range []string{"1002", "1007", "1009"} {
		counted["close "+code] = int(ca[code] - cb[code])
	}
	totalCounted := 0
	for k, v := range counted {
		totalCounted += v
		if v < observed[k] {
			t.Errorf("refusal %s: clients saw %d, the gateway counted %d", k, observed[k], v)
		}
	}
	for k, v := range observed {
		if _, ok := counted[k]; !ok {
			t.Errorf("refusal %s: clients saw %d, /metrics has no such series", k, v)
		}
	}
	t.Logf("refusals seen by clients %d %v; counted by the gateway %d %v", totalObserved, observed, totalCounted, counted)
	if totalCounted < totalObserved {
		t.Errorf("the gateway counted %d refusals, clients saw %d", totalCounted, totalObserved)
	}
	if totalCounted > cases {
		t.Errorf("the gateway counted %d refusals for %d cases (at most one per connection)", totalCounted, cases)
	}

	// The good pair was served throughout.
	want := len(goodSent)
	waitClients(t, "the good subscriber's messages", 15*time.Second, []*clusterClient{sub}, func(c *clusterClient) bool {
		n := 0
		for _, r := range c.messages() {
			if strings.HasPrefix(r.payload, "good-") {
				n++
			}
		}
		return n >= want
	})
	var quarters [4]int
	var worst time.Duration
	got := map[string]bool{}
	for _, r := range sub.messages() {
		idx, err := strconv.Atoi(strings.TrimPrefix(r.payload, "good-"))
		if err != nil || !strings.HasPrefix(r.payload, "good-") || idx >= want {
			continue
		}
		got[r.payload] = true
		worst = max(worst, r.at.Sub(goodSent[idx]))
		if q := int(4 * r.at.Sub(stormStart) / stormTime); q >= 0 && q < 4 {
			quarters[q]++
		}
	}
	if len(got) != want {
		t.Errorf("good subscriber: %d of %d messages", len(got), want)
	}
	for q, n := range quarters {
		if n == 0 {
			t.Errorf("good subscriber: no message delivered in quarter %d of the storm", q+1)
		}
	}
	t.Logf("good pair: %d messages during the storm, received per storm quarter %v, slowest delivery %v",
		want, quarters, worst.Round(time.Millisecond))
}
