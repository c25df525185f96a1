package accesslog

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 30, 18, 0, 35, 655e6, time.UTC)

const ms1 = time.Millisecond

// rec builds a record the way the session machine would: Reset, then fields.
func rec(f func(r *Record)) *Record {
	var r Record
	r.Reset(t0)
	r.Client = netip.MustParseAddrPort("192.0.2.7:51234")
	r.Listener = "plain"
	f(&r)
	return &r
}

// formatCases are one record per kind of line the issue lists, and the exact
// line each format gives.
var formatCases = []struct {
	name       string
	r          *Record
	text, json string
}{
	{
		name: "http request proxied",
		r: rec(func(r *Record) {
			r.Kind, r.XFF, r.Route, r.Pool, r.Server = KindHTTP, "203.0.113.9", "/api", "app", "s1"
			r.Method, r.Target, r.Proto, r.Status = "GET", "/api/items?a=1&token=secret", "HTTP/1.1", 200
			r.Tq, r.Tw, r.Tc, r.Tr, r.Tt = 3*ms1, 0, 1*ms1, 12*ms1, 16*ms1
			r.BytesIn, r.BytesOut, r.Term, r.RequestID = 301, 512, TermNormal, "5f2c9a1b7e3d4c80-1a"
		}),
		text: `192.0.2.7:51234 [30/Nov/2026:18:00:35.655] plain /api app/s1 3/0/1/12/16 200 512 - - ---- 0/0 http normal 301 -/- -/- 5f2c9a1b7e3d4c80-1a - {203.0.113.9|} "GET /api/items?a=1 HTTP/1.1"`,
		json: `{"time":"2026-11-30T18:00:35.655Z","kind":"http","client":"192.0.2.7:51234","xff":"203.0.113.9","listener":"plain","route":"/api","topic":"","pool":"app","server":"s1","method":"GET","path":"/api/items?a=1","proto":"HTTP/1.1","status":200,"tq_ms":3,"tw_ms":0,"tc_ms":1,"tr_ms":12,"tt_ms":16,"bytes_in":301,"bytes_out":512,"msgs_in":0,"msgs_out":0,"close_code":0,"closed_by":"","retries":0,"redispatches":0,"termination":"normal","term":"----","request_id":"5f2c9a1b7e3d4c80-1a","user":"","detail":""}`,
	},
	{
		name: "ws topic session closed by client",
		r: rec(func(r *Record) {
			r.Kind, r.Route, r.Topic, r.User = KindWebSocket, "/ws", "chat", "alice"
			r.Method, r.Target, r.Proto, r.Status = "GET", "/ws?token=eyJhbGciOi", "HTTP/1.1", 101
			r.Tq, r.Tt = 2*ms1, 61*time.Second
			r.BytesIn, r.BytesOut, r.MsgsIn, r.MsgsOut = 900, 25000, 5, 120
			r.CloseCode, r.ClosedBy, r.Term, r.RequestID = 1000, SideClient, TermClientClosed, "r1"
		}),
		text: `192.0.2.7:51234 [30/Nov/2026:18:00:35.655] plain /ws topic:chat 2/-1/-1/-1/61000 101 25000 - - CD-- 0/0 ws client_closed 900 5/120 1000/client r1 alice {|} "GET /ws HTTP/1.1"`,
		json: `{"time":"2026-11-30T18:00:35.655Z","kind":"ws","client":"192.0.2.7:51234","xff":"","listener":"plain","route":"/ws","topic":"chat","pool":"","server":"","method":"GET","path":"/ws","proto":"HTTP/1.1","status":101,"tq_ms":2,"tw_ms":-1,"tc_ms":-1,"tr_ms":-1,"tt_ms":61000,"bytes_in":900,"bytes_out":25000,"msgs_in":5,"msgs_out":120,"close_code":1000,"closed_by":"client","retries":0,"redispatches":0,"termination":"client_closed","term":"CD--","request_id":"r1","user":"alice","detail":""}`,
	},
	{
		name: "ws tunnel closed by server (backend killed)",
		r: rec(func(r *Record) {
			r.Kind, r.Route, r.Pool, r.Server, r.Listener = KindWebSocket, "/live", "app", "s2", "tls"
			r.Method, r.Target, r.Proto, r.Status = "GET", "/live", "HTTP/1.1", 101
			r.Tq, r.Tw, r.Tc, r.Tr, r.Tt = 1*ms1, 0, 2*ms1, 5*ms1, time.Hour
			r.Retries, r.Redispatches = 1, 1
			r.CloseCode, r.ClosedBy, r.Term, r.Detail = 1001, SideServer, TermServerClosed, "server connection lost"
		}),
		text: `192.0.2.7:51234 [30/Nov/2026:18:00:35.655] tls /live app/s2 1/0/2/5/3600000 101 0 - - SD-- 1/1 ws server_closed 0 0/0 1001/server - - {|server connection lost} "GET /live HTTP/1.1"`,
		json: `{"time":"2026-11-30T18:00:35.655Z","kind":"ws","client":"192.0.2.7:51234","xff":"","listener":"tls","route":"/live","topic":"","pool":"app","server":"s2","method":"GET","path":"/live","proto":"HTTP/1.1","status":101,"tq_ms":1,"tw_ms":0,"tc_ms":2,"tr_ms":5,"tt_ms":3600000,"bytes_in":0,"bytes_out":0,"msgs_in":0,"msgs_out":0,"close_code":1001,"closed_by":"server","retries":1,"redispatches":1,"termination":"server_closed","term":"SD--","request_id":"","user":"","detail":"server connection lost"}`,
	},
	{
		name: "ws idle timeout",
		r: rec(func(r *Record) {
			r.Kind, r.Route, r.Topic = KindWebSocket, "/ws", "chat"
			r.Method, r.Target, r.Proto, r.Status = "GET", "/ws", "HTTP/1.1", 101
			r.Tq, r.Tt = 0, 60*time.Second+100*ms1
			r.CloseCode, r.ClosedBy, r.Term = 1001, SideGateway, TermTimeoutIdle
		}),
		text: `192.0.2.7:51234 [30/Nov/2026:18:00:35.655] plain /ws topic:chat 0/-1/-1/-1/60100 101 0 - - cD-- 0/0 ws timeout_idle 0 0/0 1001/gateway - - {|} "GET /ws HTTP/1.1"`,
		json: `{"time":"2026-11-30T18:00:35.655Z","kind":"ws","client":"192.0.2.7:51234","xff":"","listener":"plain","route":"/ws","topic":"chat","pool":"","server":"","method":"GET","path":"/ws","proto":"HTTP/1.1","status":101,"tq_ms":0,"tw_ms":-1,"tc_ms":-1,"tr_ms":-1,"tt_ms":60100,"bytes_in":0,"bytes_out":0,"msgs_in":0,"msgs_out":0,"close_code":1001,"closed_by":"gateway","retries":0,"redispatches":0,"termination":"timeout_idle","term":"cD--","request_id":"","user":"","detail":""}`,
	},
	{
		name: "refused at max-conns with 503",
		r: rec(func(r *Record) {
			r.Kind, r.Status, r.Term, r.Detail, r.Tt, r.BytesOut = KindRefused, 503, TermRefused, "max-conns", 0, 107
		}),
		text: `192.0.2.7:51234 [30/Nov/2026:18:00:35.655] plain - - -1/-1/-1/-1/0 503 107 - - RR-- 0/0 refused refused 0 -/- -/- - - {|max-conns} "-"`,
		json: `{"time":"2026-11-30T18:00:35.655Z","kind":"refused","client":"192.0.2.7:51234","xff":"","listener":"plain","route":"","topic":"","pool":"","server":"","method":"","path":"","proto":"","status":503,"tq_ms":-1,"tw_ms":-1,"tc_ms":-1,"tr_ms":-1,"tt_ms":0,"bytes_in":0,"bytes_out":107,"msgs_in":0,"msgs_out":0,"close_code":0,"closed_by":"","retries":0,"redispatches":0,"termination":"refused","term":"RR--","request_id":"","user":"","detail":"max-conns"}`,
	},
	{
		name: "408 handshake timeout",
		r: rec(func(r *Record) {
			r.Kind, r.Status, r.Term, r.Tt, r.BytesIn = KindHTTP, 408, TermTimeoutHandshake, 10*time.Second, 12
		}),
		text: `192.0.2.7:51234 [30/Nov/2026:18:00:35.655] plain - - -1/-1/-1/-1/10000 408 0 - - cR-- 0/0 http timeout_handshake 12 -/- -/- - - {|} "-"`,
		json: `{"time":"2026-11-30T18:00:35.655Z","kind":"http","client":"192.0.2.7:51234","xff":"","listener":"plain","route":"","topic":"","pool":"","server":"","method":"","path":"","proto":"","status":408,"tq_ms":-1,"tw_ms":-1,"tc_ms":-1,"tr_ms":-1,"tt_ms":10000,"bytes_in":12,"bytes_out":0,"msgs_in":0,"msgs_out":0,"close_code":0,"closed_by":"","retries":0,"redispatches":0,"termination":"timeout_handshake","term":"cR--","request_id":"","user":"","detail":""}`,
	},
	{
		name: "slow consumer 1008",
		r: rec(func(r *Record) {
			r.Kind, r.Route, r.Topic = KindWebSocket, "/ws", "ticks"
			r.Method, r.Target, r.Proto, r.Status = "GET", "/ws", "HTTP/1.1", 101
			r.Tq, r.Tt, r.MsgsOut, r.BytesOut = 1*ms1, 4*time.Second, 9000, 16<<20
			r.CloseCode, r.ClosedBy, r.Term = 1008, SideGateway, TermSlowConsumer
		}),
		text: `192.0.2.7:51234 [30/Nov/2026:18:00:35.655] plain /ws topic:ticks 1/-1/-1/-1/4000 101 16777216 - - RD-- 0/0 ws slow_consumer 0 0/9000 1008/gateway - - {|} "GET /ws HTTP/1.1"`,
		json: `{"time":"2026-11-30T18:00:35.655Z","kind":"ws","client":"192.0.2.7:51234","xff":"","listener":"plain","route":"/ws","topic":"ticks","pool":"","server":"","method":"GET","path":"/ws","proto":"HTTP/1.1","status":101,"tq_ms":1,"tw_ms":-1,"tc_ms":-1,"tr_ms":-1,"tt_ms":4000,"bytes_in":0,"bytes_out":16777216,"msgs_in":0,"msgs_out":9000,"close_code":1008,"closed_by":"gateway","retries":0,"redispatches":0,"termination":"slow_consumer","term":"RD--","request_id":"","user":"","detail":""}`,
	},
	{
		name: "drain 1001",
		r: rec(func(r *Record) {
			r.Kind, r.Route, r.Topic = KindWebSocket, "/ws", "chat"
			r.Method, r.Target, r.Proto, r.Status = "GET", "/ws", "HTTP/1.1", 101
			r.Tq, r.Tt = 1*ms1, 5*time.Minute
			r.CloseCode, r.ClosedBy, r.Term = 1001, SideGateway, TermDrain
		}),
		text: `192.0.2.7:51234 [30/Nov/2026:18:00:35.655] plain /ws topic:chat 1/-1/-1/-1/300000 101 0 - - KD-- 0/0 ws drain 0 0/0 1001/gateway - - {|} "GET /ws HTTP/1.1"`,
		json: `{"time":"2026-11-30T18:00:35.655Z","kind":"ws","client":"192.0.2.7:51234","xff":"","listener":"plain","route":"/ws","topic":"chat","pool":"","server":"","method":"GET","path":"/ws","proto":"HTTP/1.1","status":101,"tq_ms":1,"tw_ms":-1,"tc_ms":-1,"tr_ms":-1,"tt_ms":300000,"bytes_in":0,"bytes_out":0,"msgs_in":0,"msgs_out":0,"close_code":1001,"closed_by":"gateway","retries":0,"redispatches":0,"termination":"drain","term":"KD--","request_id":"","user":"","detail":""}`,
	},
	{
		name: "504 server timeout, no server chosen yet is <NOSRV>",
		r: rec(func(r *Record) {
			r.Kind, r.Route, r.Pool, r.Server = KindHTTP, "/api", "app", "s1"
			r.Method, r.Target, r.Proto, r.Status = "POST", "/api/slow", "HTTP/1.0", 504
			r.Tq, r.Tw, r.Tc, r.Tt = 1*ms1, 0, 1*ms1, 30*time.Second
			r.Term = TermTimeoutServer
		}),
		text: `192.0.2.7:51234 [30/Nov/2026:18:00:35.655] plain /api app/s1 1/0/1/-1/30000 504 0 - - sH-- 0/0 http timeout_server 0 -/- -/- - - {|} "POST /api/slow HTTP/1.0"`,
		json: `{"time":"2026-11-30T18:00:35.655Z","kind":"http","client":"192.0.2.7:51234","xff":"","listener":"plain","route":"/api","topic":"","pool":"app","server":"s1","method":"POST","path":"/api/slow","proto":"HTTP/1.0","status":504,"tq_ms":1,"tw_ms":0,"tc_ms":1,"tr_ms":-1,"tt_ms":30000,"bytes_in":0,"bytes_out":0,"msgs_in":0,"msgs_out":0,"close_code":0,"closed_by":"","retries":0,"redispatches":0,"termination":"timeout_server","term":"sH--","request_id":"","user":"","detail":""}`,
	},
	{
		name: "503 queue timeout, no server",
		r: rec(func(r *Record) {
			r.Kind, r.Route, r.Pool = KindHTTP, "/api", "app"
			r.Method, r.Target, r.Proto, r.Status = "GET", "/api", "HTTP/1.1", 503
			r.Tq, r.Tt, r.Term, r.Client = 0, 5*time.Second, TermTimeoutQueue, netip.MustParseAddrPort("[2001:db8::1]:443")
		}),
		text: `[2001:db8::1]:443 [30/Nov/2026:18:00:35.655] plain /api app/<NOSRV> 0/-1/-1/-1/5000 503 0 - - sQ-- 0/0 http timeout_queue 0 -/- -/- - - {|} "GET /api HTTP/1.1"`,
		json: `{"time":"2026-11-30T18:00:35.655Z","kind":"http","client":"[2001:db8::1]:443","xff":"","listener":"plain","route":"/api","topic":"","pool":"app","server":"","method":"GET","path":"/api","proto":"HTTP/1.1","status":503,"tq_ms":0,"tw_ms":-1,"tc_ms":-1,"tr_ms":-1,"tt_ms":5000,"bytes_in":0,"bytes_out":0,"msgs_in":0,"msgs_out":0,"close_code":0,"closed_by":"","retries":0,"redispatches":0,"termination":"timeout_queue","term":"sQ--","request_id":"","user":"","detail":""}`,
	},
}

func TestFormats(t *testing.T) {
	for _, c := range formatCases {
		if got := string(AppendText(nil, c.r)); got != c.text+"\n" {
			t.Errorf("%s: text\n got %s\nwant %s", c.name, got, c.text)
		}
		got := AppendJSON(nil, c.r)
		if string(got) != c.json+"\n" {
			t.Errorf("%s: json\n got %s\nwant %s", c.name, got, c.json)
		}
		var m map[string]any
		if err := json.Unmarshal(got, &m); err != nil {
			t.Errorf("%s: not JSON: %v", c.name, err)
		}
	}
}

// TestJSONFieldsStable: every line has the documented fields, in order.
func TestJSONFieldsStable(t *testing.T) {
	want := strings.Fields(`time kind client xff listener route topic pool server method path proto status
		tq_ms tw_ms tc_ms tr_ms tt_ms bytes_in bytes_out msgs_in msgs_out close_code closed_by retries
		redispatches termination term request_id user detail`)
	for _, c := range formatCases {
		dec := json.NewDecoder(bytes.NewReader(AppendJSON(nil, c.r)))
		var keys []string
		if _, err := dec.Token(); err != nil { // {
			t.Fatal(err)
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k.(string))
			if _, err := dec.Token(); err != nil { // value: all scalars
				t.Fatal(err)
			}
		}
		if !reflect.DeepEqual(keys, want) {
			t.Errorf("%s: keys %q, want %q", c.name, keys, want)
		}
	}
}

// hostile are values a client controls that try to forge or break lines.
var hostile = []string{
	"a\r\nb", "fake\n192.0.2.1:1 [30/Nov/2026:18:00:00.000] plain", `q"uote`, `back\slash`, "bad\xff\xfeutf8",
	"nul\x00byte", "tab\tand space", "line\u2028sep", "del\x7f", `brace} {pipe|`, "#hash", "é ünïcode",
}

func TestEscapingHostileJSON(t *testing.T) {
	for _, h := range hostile {
		r := rec(func(r *Record) {
			r.Kind, r.XFF, r.Method, r.Target, r.RequestID, r.User, r.Detail = KindHTTP, h, h, "/p?x="+h, h, h, h
			r.Route, r.Topic, r.Proto = h, h, h
		})
		line := AppendJSON(nil, r)
		if bytes.IndexByte(line, '\n') != len(line)-1 || bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, 0) >= 0 {
			t.Errorf("%q: not exactly one line: %q", h, line)
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Errorf("%q: not JSON: %v: %s", h, err, line)
			continue
		}
		// Valid UTF-8 comes back byte for byte; each invalid byte as U+FFFD.
		want := strings.ReplaceAll(strings.ReplaceAll(h, "\xff", "\uFFFD"), "\xfe", "\uFFFD")
		for _, k := range []string{"xff", "method", "request_id", "user", "detail", "route", "topic", "proto"} {
			if m[k] != want {
				t.Errorf("%q: %s = %q, want %q", h, k, m[k], want)
			}
		}
		if m["path"] != "/p?x="+want {
			t.Errorf("%q: path = %q", h, m["path"])
		}
	}
	if got := string(appendJSONChars(nil, "\x01\b\f\u2029<&>")); got != `\u0001\u0008\u000c\u2029<&>` {
		t.Errorf("controls: %s", got)
	}
}

func TestEscapingHostileText(t *testing.T) {
	base := string(AppendText(nil, rec(func(r *Record) {
		r.Kind, r.XFF, r.Method, r.Target, r.RequestID, r.User, r.Detail, r.Route, r.Pool, r.Server = KindHTTP, "x", "x", "/x", "x", "x", "x", "x", "x", "x"
	})))
	for _, h := range hostile {
		line := string(AppendText(nil, rec(func(r *Record) {
			r.Kind, r.XFF, r.Method, r.Target, r.RequestID, r.User, r.Detail, r.Route, r.Pool, r.Server = KindHTTP, h, h, "/"+h, h, h, h, h, h, h
		})))
		if strings.IndexByte(line, '\n') != len(line)-1 {
			t.Errorf("%q: not one line: %q", h, line)
		}
		for i := 0; i < len(line)-1; i++ {
			if c := line[i]; c < ' ' || c >= 0x7f {
				t.Errorf("%q: byte %#x at %d in %q", h, c, i, line)
				break
			}
		}
		// The structure is that of a harmless line: as many fields, one pair of quotes, one pair of braces.
		if strings.Count(line, `"`) != 2 || strings.Count(line, "{") != 1 || strings.Count(line, "}") != 1 || strings.Count(line, "|") != 1 {
			t.Errorf("%q: structure broken: %s", h, line)
		}
		if outside := func(s string) int { return len(strings.Fields(s[:strings.IndexByte(s, '{')])) }; outside(line) != outside(base) {
			t.Errorf("%q: %d fields before the braces, want %d: %s", h, outside(line), outside(base), line)
		}
	}
	if got := string(appendTextEsc(nil, "a\r\n\"#{|} \x00\xff", false)); got != "a#0d#0a#22#23#7b#7c#7d#20#00#ff" {
		t.Errorf("text escape: %s", got)
	}
	if got := string(appendTextEsc(nil, "10.0.0.1, 10.0.0.2", true)); got != "10.0.0.1, 10.0.0.2" {
		t.Errorf("xff with spaces: %s", got)
	}
}

func TestStripToken(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/ws", "/ws"},
		{"/ws?", "/ws?"},
		{"/ws?token=x", "/ws"},
		{"/ws?token", "/ws"}, // a name without value is still the parameter
		{"/ws?token=", "/ws"},
		{"/ws?a=1&token=x&b=2", "/ws?a=1&b=2"},
		{"/ws?token=x&b=2", "/ws?b=2"},
		{"/ws?a=1&token=x", "/ws?a=1"},
		{"/ws?token=a&token=b&c", "/ws?c"},
		{"/ws?tokens=x", "/ws?tokens=x"},
		{"/ws?mytoken=x", "/ws?mytoken=x"},
		{"/ws?Token=x", "/ws?Token=x"}, // case-sensitive, as the JWT issue reads it
		{"/ws?a=token", "/ws?a=token"},
		{"/ws?%74oken=x", "/ws"},                     // decodes to token: a decoder would read it, so it goes
		{"/ws?t%6Fken=x&a=1", "/ws?a=1"},             // idem, upper-case hex
		{"/ws?%74%6f%6b%65%6e=x", "/ws"},             // fully encoded
		{"/ws?%74oke=x&%zz=1", "/ws?%74oke=x&%zz=1"}, // not token; a bad escape kept as is
		{"/ws?a=1&&b=2", "/ws?a=1&&b=2"},             // byte for byte, empty parameters too
		{"/ws?a=%2B+b&token=x&c=%26", "/ws?a=%2B+b&c=%26"},
		{"/ws?token=x&", "/ws?"},
		{"/a%3Ftoken=x", "/a%3Ftoken=x"}, // in the path, not the query
	}
	for _, c := range cases {
		if got := StripToken(c.in); got != c.want {
			t.Errorf("StripToken(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// No copy when nothing is removed.
	in := "/ws?a=1&b=2"
	if got := StripToken(in); got != in || testing.AllocsPerRun(10, func() { StripToken(in) }) != 0 {
		t.Errorf("StripToken allocates or changes %q", in)
	}
}

func TestTokenNeverLogged(t *testing.T) {
	for _, target := range []string{"/ws?token=SECRET", "/ws?a=1&token=SECRET", "/ws?%74oken=SECRET&x=1"} {
		r := rec(func(r *Record) { r.Kind, r.Method, r.Target = KindWebSocket, "GET", target })
		for _, line := range [][]byte{AppendJSON(nil, r), AppendText(nil, r)} {
			if bytes.Contains(line, []byte("SECRET")) {
				t.Errorf("token logged: %s", line)
			}
		}
	}
}

func TestTimers(t *testing.T) {
	var r Record
	r.Reset(t0)
	if r.Tq != -1 || r.Tw != -1 || r.Tc != -1 || r.Tr != -1 || r.Tt != -1 {
		t.Fatalf("Reset: timers %v %v %v %v %v", r.Tq, r.Tw, r.Tc, r.Tr, r.Tt)
	}
	r.HeadParsed(t0.Add(3 * ms1))
	r.QueueGranted(t0.Add(3 * ms1))
	r.Connected(t0.Add(5 * ms1))
	r.ResponseHead(t0.Add(17 * ms1))
	r.End(t0.Add(20 * ms1))
	if r.Tq != 3*ms1 || r.Tw != 0 || r.Tc != 2*ms1 || r.Tr != 12*ms1 || r.Tt != 20*ms1 {
		t.Errorf("timers %v %v %v %v %v, want 3ms 0 2ms 12ms 20ms", r.Tq, r.Tw, r.Tc, r.Tr, r.Tt)
	}
	// A phase skipped (no queue call) does not shift the next one.
	r.Reset(t0)
	r.HeadParsed(t0.Add(1 * ms1))
	r.Connected(t0.Add(4 * ms1))
	if r.Tw != -1 || r.Tc != 3*ms1 {
		t.Errorf("Tw %v Tc %v, want -1 and 3ms", r.Tw, r.Tc)
	}
}

func TestSuccess(t *testing.T) {
	for _, c := range formatCases {
		want := c.name == "http request proxied" || c.name == "ws topic session closed by client" ||
			c.name == "ws tunnel closed by server (backend killed)"
		if got := c.r.Success(); got != want {
			t.Errorf("%s: Success() = %v, want %v", c.name, got, want)
		}
	}
	r := rec(func(r *Record) { r.Kind, r.Status, r.Term, r.CloseCode = KindWebSocket, 101, TermClientClosed, 1006 })
	if r.Success() {
		t.Error("an abnormal close (1006) counts as success")
	}
}
