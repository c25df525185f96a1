package accesslog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// syncBuffer is an io.Writer the writer goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  int // Write calls
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSuffix(s.b.String(), "\n"), "\n")
}

// counter reads a counter from reg.
func counter(t testing.TB, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return int(mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func cfg(mod func(c *Config)) Config {
	c := Config{Output: "stdout", Format: "json", Sample: 1, RequestIDHeader: "X-Request-Id"}
	if mod != nil {
		mod(&c)
	}
	return c
}

func okRecord(i int) *Record {
	return rec(func(r *Record) {
		r.Kind, r.Method, r.Target, r.Proto, r.Status, r.Term = KindHTTP, "GET", fmt.Sprintf("/r/%d", i), "HTTP/1.1", 200, TermNormal
	})
}

func TestLoggerWritesAndCloseFlushes(t *testing.T) {
	var out syncBuffer
	reg := prometheus.NewRegistry()
	l, err := NewWriter(cfg(func(c *Config) { c.Format = "text" }), &out, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		l.Log(okRecord(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := out.lines()
	if len(lines) != 100 || !strings.HasSuffix(lines[99], `"GET /r/99 HTTP/1.1"`) {
		t.Fatalf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
	if n := counter(t, reg, "wsgate_access_log_lines_total"); n != 100 {
		t.Errorf("lines_total %d, want 100", n)
	}
	if out.n > 100 {
		t.Errorf("%d writes for 100 lines", out.n)
	}
	t.Logf("100 lines in %d writes", out.n)
	// After Close: dropped and counted, no panic.
	l.Log(okRecord(0))
	if n := counter(t, reg, "wsgate_access_log_dropped_total"); n != 1 {
		t.Errorf("dropped_total after close %d, want 1", n)
	}
	if err := l.Close(); err != nil { // twice is fine
		t.Fatal(err)
	}
}

func TestNilLogger(t *testing.T) {
	l, err := New(cfg(func(c *Config) { c.Output = "off" }), prometheus.NewRegistry(), nil)
	if l != nil || err != nil {
		t.Fatalf("off: %v, %v", l, err)
	}
	l.Log(okRecord(0))
	if l.Reopen() != nil || l.Close() != nil {
		t.Fatal("nil logger methods fail")
	}
}

func TestSampling(t *testing.T) {
	var out syncBuffer
	l, err := NewWriter(cfg(func(c *Config) { c.Sample = 3 }), &out, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		l.Log(okRecord(i))
		l.Log(rec(func(r *Record) { r.Kind, r.Status, r.Term, r.Detail = KindRefused, 503, TermRefused, "max-conns" }))
		if i%3 == 0 {
			l.Log(rec(func(r *Record) { r.Kind, r.Status, r.Term = KindHTTP, 504, TermTimeoutServer }))
		}
	}
	_ = l.Close()
	var ok, refused, errs int
	for _, line := range out.lines() {
		switch {
		case strings.Contains(line, `"termination":"normal"`):
			ok++
		case strings.Contains(line, `"termination":"refused"`):
			refused++
		case strings.Contains(line, `"termination":"timeout_server"`):
			errs++
		}
	}
	if ok != 10 || refused != 30 || errs != 10 {
		t.Errorf("sample 3: %d successes (want 10 of 30), %d refusals (want 30), %d errors (want 10)", ok, refused, errs)
	}
}

// blockingWriter blocks every Write until released, as a stuck disk would.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	syncBuffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return b.syncBuffer.Write(p)
}

func TestQueueOverflowDropsAndCounts(t *testing.T) {
	w := &blockingWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	l, err := NewWriter(cfg(func(c *Config) { c.QueueLen = 4 }), w, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Log(okRecord(0)) // the writer takes it and blocks in Write
	select {
	case <-w.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("writer never wrote")
	}
	start := time.Now()
	for i := 1; i <= 14; i++ { // 4 fit in the queue, 10 are dropped
		l.Log(okRecord(i))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Log blocked %v behind a stuck writer", d)
	}
	if n := counter(t, reg, "wsgate_access_log_dropped_total"); n != 10 {
		t.Errorf("dropped_total %d, want 10", n)
	}
	close(w.release)
	_ = l.Close()
	lines := w.lines()
	if len(lines) != 5 || counter(t, reg, "wsgate_access_log_lines_total") != 5 {
		t.Errorf("%d lines written (counter %d), want 5 = 15 logged - 10 dropped",
			len(lines), counter(t, reg, "wsgate_access_log_lines_total"))
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorCountsDropped(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, err := NewWriter(cfg(nil), failingWriter{}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		l.Log(okRecord(i))
	}
	_ = l.Close()
	if d, w := counter(t, reg, "wsgate_access_log_dropped_total"), counter(t, reg, "wsgate_access_log_lines_total"); d != 7 || w != 0 {
		t.Errorf("dropped %d written %d, want 7 and 0", d, w)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// TestReopenAfterRename is logrotate: rename the file, Reopen, later lines go
// to a new file at the old path, and no line is lost.
func TestReopenAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	reg := prometheus.NewRegistry()
	l, err := New(cfg(func(c *Config) { c.Output = path }), reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		l.Log(okRecord(i))
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		l.Log(okRecord(100 + i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if old, cur := countLines(t, path+".1"), countLines(t, path); old != 100 || cur != 50 {
		t.Errorf("rotated file %d lines (want 100), new file %d (want 50)", old, cur)
	}
}

// TestReopenUnderLoad rotates while records stream in at a rate the writer
// keeps up with: lines in all files = records - dropped (and dropped is 0).
func TestReopenUnderLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	reg := prometheus.NewRegistry()
	l, err := New(cfg(func(c *Config) { c.Output = path; c.Format = "text" }), reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	const total, rotations = 5000, 5
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			l.Log(okRecord(i))
			if i%100 == 99 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	for i := range rotations {
		time.Sleep(3 * time.Millisecond)
		if err := os.Rename(path, fmt.Sprintf("%s.%d", path, i)); err != nil {
			t.Fatal(err)
		}
		if err := l.Reopen(); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	_ = l.Close()
	lines := countLines(t, path)
	for i := range rotations {
		lines += countLines(t, fmt.Sprintf("%s.%d", path, i))
	}
	dropped := counter(t, reg, "wsgate_access_log_dropped_total")
	if lines != total-dropped {
		t.Errorf("%d lines in all files, want %d records - %d dropped", lines, total, dropped)
	}
	if dropped != 0 {
		t.Errorf("%d dropped at a load the writer keeps up with", dropped)
	}
}

func TestReopenFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "logs")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "access.log")
	l, err := New(cfg(func(c *Config) { c.Output = path }), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Log(okRecord(0))
	if err := os.Rename(sub, filepath.Join(dir, "gone")); err != nil { // the directory moves away
		t.Fatal(err)
	}
	if err := l.Reopen(); err == nil {
		t.Error("Reopen into a missing directory succeeded")
	}
	l.Log(okRecord(1))
	_ = l.Close()
	if n := countLines(t, filepath.Join(dir, "gone", "access.log")); n != 2 {
		t.Errorf("old file has %d lines, want 2 (kept after a failed reopen)", n)
	}
}

func TestReopenWithoutFile(t *testing.T) {
	l, err := NewWriter(cfg(nil), io.Discard, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Error(err)
	}
	_ = l.Close()
	if err := l.Reopen(); err == nil {
		t.Error("Reopen after Close succeeded")
	}
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, err := NewWriter(cfg(nil), io.Discard, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := NewWriter(cfg(nil), io.Discard, reg, nil); err == nil {
		t.Error("a second logger on the same registry registered its counters")
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		c    Config
		want string // "" = valid
	}{
		{cfg(nil), ""},
		{cfg(func(c *Config) { c.Output = "off"; c.Format = "text"; c.Sample = 100 }), ""},
		{cfg(func(c *Config) { c.Output = filepath.Join(dir, "a.log") }), ""},
		{cfg(func(c *Config) { c.RequestIDHeader = ""; c.RequestIDTrusted = "10.0.0.0/8, 192.0.2.1,::1/128" }), ""},
		{cfg(func(c *Config) { c.Format = "xml" }), `-access-log-format: "xml": want json or text`},
		{cfg(func(c *Config) { c.Sample = 0 }), `-access-log-sample: 0 must be at least 1`},
		{cfg(func(c *Config) { c.Output = "/nonexistent-dir/x/a.log" }), `-access-log: /nonexistent-dir/x/a.log: cannot create in /nonexistent-dir/x`},
		{cfg(func(c *Config) { c.Output = dir }), `is a directory`},
		{cfg(func(c *Config) { c.RequestIDTrusted = "10.0.0.0/33" }), `-request-id-trusted: "10.0.0.0/33": want CIDR`},
		{cfg(func(c *Config) { c.RequestIDTrusted = "10.0.0.0/8,nope" }), `-request-id-trusted: "nope": want CIDR`},
		{cfg(func(c *Config) { c.RequestIDHeader = "X Request" }), `-request-id-header: "X Request" is not a valid header name`},
	}
	for _, c := range cases {
		err := c.c.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.c, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want %q", c.c, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a.log")); err == nil {
		t.Error("Validate created the log file")
	}
}

func TestRequestID(t *testing.T) {
	ids, err := NewIDs(cfg(func(c *Config) { c.RequestIDTrusted = "10.0.0.0/8, 192.0.2.1, ::1" }))
	if err != nil {
		t.Fatal(err)
	}
	if ids.Header() != "X-Request-Id" {
		t.Errorf("header %q", ids.Header())
	}
	trusted, untrusted := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("203.0.113.5")
	cases := []struct {
		remote   netip.Addr
		incoming string
		kept     bool
	}{
		{trusted, "abc-123", true},
		{netip.MustParseAddr("192.0.2.1"), "lb-7f", true},
		{netip.MustParseAddr("::1"), "v6", true},
		{netip.MustParseAddr("::ffff:10.9.9.9"), "mapped", true}, // a dual-stack socket's view of 10.9.9.9
		{untrusted, "abc-123", false},
		{netip.MustParseAddr("192.0.2.2"), "abc", false},
		{trusted, "", false},
		{trusted, "has space", false},
		{trusted, "ctl\r\nX-Evil: 1", false},
		{trusted, "é", false},
		{trusted, strings.Repeat("a", MaxRequestIDLen), true},
		{trusted, strings.Repeat("a", MaxRequestIDLen+1), false},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		got := ids.RequestID(c.remote, c.incoming)
		if kept := got == c.incoming; kept != c.kept {
			t.Errorf("RequestID(%v, %q) = %q, kept %v, want %v", c.remote, c.incoming, got, kept, c.kept)
		}
		if !c.kept && (!saneID(got) || !strings.HasPrefix(got, ids.prefix) || seen[got]) {
			t.Errorf("generated ID %q: insane, wrong prefix or repeated", got)
		}
		seen[got] = true
	}
	for range 10000 {
		id := ids.New()
		if seen[id] {
			t.Fatalf("repeated ID %q", id)
		}
		seen[id] = true
	}
	other, _ := NewIDs(cfg(nil))
	if other.prefix == ids.prefix {
		t.Error("two ID sources share a prefix")
	}
	if other.RequestID(trusted, "abc") == "abc" {
		t.Error("no -request-id-trusted, yet a client's ID was kept")
	}
	off, err := NewIDs(cfg(func(c *Config) { c.RequestIDHeader = "" }))
	if off != nil || err != nil || off.RequestID(trusted, "abc") != "" || off.Header() != "" {
		t.Error("disabled IDs: want nil source giving \"\"")
	}
}

// BenchmarkLog is the event loop's cost of one access-log line: Log copies
// the record into the queue (encoding happens on the writer). allocs/op must
// be 0. "queued" waits (untimed) for the writer every 1024 lines, so every
// Log finds room; "full" is the drop path of a writer that fell behind
// (dropped/op shows how many were dropped).
func BenchmarkLog(b *testing.B) {
	for _, mode := range []string{"queued", "full"} {
		b.Run(mode, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			l, err := NewWriter(cfg(func(c *Config) { c.QueueLen = 2048 }), io.Discard, reg, nil)
			if err != nil {
				b.Fatal(err)
			}
			r := formatCases[1].r
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				l.Log(r)
				if mode == "queued" && i%1024 == 1023 {
					b.StopTimer()
					for len(l.queue) > 0 {
						runtime.Gosched()
					}
					b.StartTimer()
				}
			}
			_ = l.Close()
			b.ReportMetric(float64(counter(b, reg, "wsgate_access_log_dropped_total"))/float64(b.N), "dropped/op")
		})
	}
}

// BenchmarkLogParallel: several event loops logging at once (the queue and
// sampling counter are shared).
func BenchmarkLogParallel(b *testing.B) {
	l, err := NewWriter(cfg(nil), io.Discard, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	r := formatCases[1].r
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Log(r)
		}
	})
}

// BenchmarkEncode is the writer's cost per line.
func BenchmarkEncode(b *testing.B) {
	r := formatCases[0].r
	for _, f := range []struct {
		name string
		fn   func([]byte, *Record) []byte
	}{{"json", AppendJSON}, {"text", AppendText}} {
		b.Run(f.name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = f.fn(buf[:0], r)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkRequestID(b *testing.B) {
	ids, _ := NewIDs(cfg(nil))
	a := netip.MustParseAddr("203.0.113.5")
	b.ReportAllocs()
	for b.Loop() {
		_ = ids.RequestID(a, "")
	}
}

func TestLogDoesNotAllocate(t *testing.T) {
	l, err := NewWriter(cfg(func(c *Config) { c.Sample = 2 }), io.Discard, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := formatCases[0].r
	if n := testing.AllocsPerRun(1000, func() { l.Log(r) }); n != 0 {
		t.Errorf("Log allocates %v per call", n)
	}
}

// TestWriterDoesNotAllocatePerLine: the whole pipeline (Log, queue, encode,
// batch, write) allocates nothing per line once warm.
func TestWriterDoesNotAllocatePerLine(t *testing.T) {
	l, err := NewWriter(cfg(nil), io.Discard, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := formatCases[0].r
	wait := func() {
		for len(l.queue) > 0 {
			runtime.Gosched()
		}
	}
	for range 100 {
		l.Log(r)
	}
	wait()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range 2000 {
		l.Log(r)
		if i%500 == 499 {
			wait()
		}
	}
	wait()
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n > 200 {
		t.Errorf("%d allocations for 2000 lines", n)
	}
}
