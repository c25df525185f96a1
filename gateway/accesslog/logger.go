package accesslog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// Config is the access log's part of gateway.Config, filled from the flags.
type Config struct {
	Output           string // "off" (or ""), "stderr", "stdout", or a file path (-access-log)
	Format           string // "json" or "text" (-access-log-format)
	Sample           int    // log 1 in Sample successful records; refusals and errors always (-access-log-sample)
	RequestIDHeader  string // header carrying the request ID; "" disables request IDs (-request-id-header)
	RequestIDTrusted string // comma-separated CIDRs whose request IDs are kept (-request-id-trusted)
	QueueLen         int    // records waiting for the writer; 0: DefaultQueueLen
}

// DefaultQueueLen bounds the records waiting for the writer. A Record is a
// few hundred bytes, so this holds about 1.5 MB at worst and absorbs a burst
// of 4096 ends while the writer is in write(2).
const DefaultQueueLen = 4096

// flushAt is the batch size at which the writer writes even if more records
// are queued; below it, it writes when the queue is empty.
const flushAt = 64 << 10

// Off reports whether the configuration disables the access log.
func (c *Config) Off() bool { return c.Output == "" || c.Output == "off" }

// Validate returns every problem in c, one per joined error, naming the flag.
// It does not create the log file: -check has no side effects.
func (c *Config) Validate() error {
	var errs []error
	if c.Format != "json" && c.Format != "text" {
		errs = append(errs, fmt.Errorf("-access-log-format: %q: want json or text", c.Format))
	}
	if c.Sample < 1 {
		errs = append(errs, fmt.Errorf("-access-log-sample: %d must be at least 1 (1 logs every record)", c.Sample))
	}
	if c.QueueLen < 0 {
		errs = append(errs, fmt.Errorf("access log queue length %d must be >= 0", c.QueueLen))
	}
	if !c.Off() && c.Output != "stderr" && c.Output != "stdout" {
		if err := checkWritable(c.Output); err != nil {
			errs = append(errs, fmt.Errorf("-access-log: %w", err))
		}
	}
	if !validHeaderName(c.RequestIDHeader) {
		errs = append(errs, fmt.Errorf("-request-id-header: %q is not a valid header name", c.RequestIDHeader))
	}
	if _, err := parseCIDRs(c.RequestIDTrusted); err != nil {
		errs = append(errs, fmt.Errorf("-request-id-trusted: %w", err))
	}
	return errors.Join(errs...)
}

// checkWritable reports whether path can be opened for appending, without
// creating it: the file if it exists, else its directory.
func checkWritable(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s: is a directory", path)
		}
		if err := unix.Access(path, unix.W_OK); err != nil {
			return fmt.Errorf("%s: not writable: %w", path, err)
		}
		return nil
	}
	dir := filepath.Dir(path)
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("%s: cannot create in %s: %w", path, dir, err)
	}
	return nil
}

// Logger writes access-log lines from a bounded queue on one goroutine. Its
// methods are safe on a nil *Logger (the log is off): the session machine
// calls them without checking.
type Logger struct {
	queue   chan Record
	text    bool // -access-log-format text, else json
	sample  uint64
	seen    atomic.Uint64 // successful records offered, for sampling
	closed  atomic.Bool
	dropped prometheus.Counter
	written prometheus.Counter
	log     *slog.Logger

	reopen chan chan error
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	// Owned by the writer goroutine (and New before it starts).
	out  io.Writer
	file *os.File // the open file when Output is a path, else nil
	path string
}

// New starts the access log described by cfg, registering its counters in
// reg (nil: not registered), and logging write errors to log (nil: not
// logged). It returns nil, nil when cfg.Output is off: a nil *Logger drops
// everything at no cost.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Logger, error) {
	if cfg.Off() {
		return nil, nil
	}
	var out io.Writer
	var file *os.File
	switch cfg.Output {
	case "stdout":
		out = os.Stdout
	case "stderr":
		out = os.Stderr
	default:
		f, err := openLog(cfg.Output)
		if err != nil {
			return nil, err
		}
		out, file = f, f
	}
	l, err := newLogger(cfg, out, reg, log)
	if err != nil {
		if file != nil {
			_ = file.Close()
		}
		return nil, err
	}
	l.file, l.path = file, cfg.Output
	return l, nil
}

// NewWriter is New writing to w (tests, or an embedding program): cfg.Output
// is ignored and Reopen does nothing.
func NewWriter(cfg Config, w io.Writer, reg prometheus.Registerer, log *slog.Logger) (*Logger, error) {
	return newLogger(cfg, w, reg, log)
}

func newLogger(cfg Config, out io.Writer, reg prometheus.Registerer, log *slog.Logger) (*Logger, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := cfg.QueueLen
	if n <= 0 {
		n = DefaultQueueLen
	}
	l := &Logger{
		queue:  make(chan Record, n),
		sample: uint64(max(cfg.Sample, 1)),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_access_log_dropped_total",
			Help: "Access-log lines lost: queue full (the writer fell behind), write errors, or logged after close."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "wsgate_access_log_lines_total",
			Help: "Access-log lines written."}),
		log:    log,
		reopen: make(chan chan error),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		out:    out,
	}
	l.text = cfg.Format == "text"
	if reg != nil {
		for _, c := range []prometheus.Collector{l.dropped, l.written} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("access log metrics: %w", err)
			}
		}
	}
	go l.run()
	return l, nil
}

func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

// Log queues a copy of rec and returns at once: it never blocks, so an event
// loop may call it. A full queue drops the line and counts it. Successful
// records are sampled (1 in -access-log-sample); others are always queued.
func (l *Logger) Log(rec *Record) {
	if l == nil {
		return
	}
	if l.sample > 1 && rec.Success() && (l.seen.Add(1)-1)%l.sample != 0 {
		return
	}
	if l.closed.Load() {
		l.dropped.Inc()
		return
	}
	// Why encode on the writer, not here: the caller is an event loop, whose
	// time is every session's latency. Copying a Record into the channel is a
	// few hundred bytes of memmove and no allocation (the strings are shared,
	// immutable); encoding is a microsecond of escaping and formatting that
	// the writer does off the loops, in place in its write batch.
	select {
	case l.queue <- *rec:
	default:
		l.dropped.Inc()
	}
}

// Reopen makes the writer flush, close and reopen the file (after logrotate
// renamed it: SIGUSR1 from its postrotate). Lines queued before the call go
// to the old file, later ones to the new file: none is lost. If the file cannot be opened, the old one
// is kept and the error returned. Without a file (stdout, stderr) it does
// nothing.
func (l *Logger) Reopen() error {
	if l == nil {
		return nil
	}
	reply := make(chan error, 1)
	select {
	case l.reopen <- reply:
		return <-reply
	case <-l.done:
		return errors.New("access log: closed")
	}
}

// Close writes every queued line, flushes and closes the file. Records logged
// after Close are dropped (counted); call it once the event loops stopped.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.once.Do(func() {
		l.closed.Store(true)
		close(l.stop)
	})
	<-l.done
	return nil
}

// run is the writer goroutine: it encodes records straight into one batch
// buffer (no copy, no allocation once grown) and writes the batch when the
// queue is empty or the batch is large, so a busy log costs few write(2)s.
// A hand-made batch rather than bufio: a failed write then knows exactly how
// many lines it lost (counted as dropped).
func (l *Logger) run() {
	defer close(l.done)
	w := writer{l: l, batch: make([]byte, 0, flushAt+4096)}
	for {
		select {
		case rec := <-l.queue:
			w.add(&rec)
			if len(l.queue) == 0 || len(w.batch) >= flushAt {
				w.flush()
			}
		case reply := <-l.reopen:
			// Lines queued before the request belong to the old file.
			for n := len(l.queue); n > 0; n-- {
				rec := <-l.queue
				w.add(&rec)
				if len(w.batch) >= flushAt {
					w.flush()
				}
			}
			w.flush()
			reply <- l.reopenFile()
		case <-l.stop:
			for len(l.queue) > 0 { // the only receiver: this cannot block
				rec := <-l.queue
				w.add(&rec)
				if len(w.batch) >= flushAt {
					w.flush()
				}
			}
			w.flush()
			if l.file != nil {
				if err := l.file.Close(); err != nil {
					l.log.Error("access log: close", "err", err)
				}
			}
			return
		}
	}
}

// reopenFile runs on the writer goroutine, after a flush.
func (l *Logger) reopenFile() error {
	if l.file == nil {
		return nil
	}
	f, err := openLog(l.path)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	if err := l.file.Close(); err != nil {
		l.log.Warn("access log: close before reopen", "err", err)
	}
	l.file, l.out = f, f
	return nil
}

// writer is the batch being filled by run.
type writer struct {
	l       *Logger
	batch   []byte
	lines   int
	failing bool // last write failed: log the next failure only after a success
}

// add encodes rec into the batch. Direct calls, not a func value, so rec
// stays on the writer's stack (a func value would make it escape: one heap
// Record per line).
func (w *writer) add(rec *Record) {
	if w.l.text {
		w.batch = AppendText(w.batch, rec)
	} else {
		w.batch = AppendJSON(w.batch, rec)
	}
	w.lines++
}

func (w *writer) flush() {
	if w.lines == 0 {
		return
	}
	_, err := w.l.out.Write(w.batch)
	if err != nil {
		w.l.dropped.Add(float64(w.lines))
		if !w.failing {
			w.l.log.Error("access log: write failed, lines dropped", "err", err, "lines", w.lines)
		}
	} else {
		w.l.written.Add(float64(w.lines))
	}
	w.failing = err != nil
	w.batch, w.lines = w.batch[:0], 0
}
