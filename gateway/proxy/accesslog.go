package proxy

// The access log of proxied requests: every session owns an accesslog.Record
// (embedded, so filling it allocates nothing) and fills it at the machine's
// events, as package accesslog's doc lists them; it is logged once per
// request, when the exchange ends or fails.

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/gateway/accesslog"
	"github.com/wsgate/wsgate/router/backend"
)

// Logger receives finished records (an *accesslog.Logger; tests collect
// them). It must copy the record: the session reuses it.
type Logger interface {
	Log(rec *accesslog.Record)
}

// Origin is what the gateway knows of a request before its session starts.
type Origin struct {
	Start    time.Time      // the request's first byte: the accept, for a connection's first request (zero: now)
	Client   netip.AddrPort // the client's address
	Listener string         // "plain" or "tls"
	Route    string         // the route prefix that matched
}

// errConnectTimeout is the connect failure the session's own timer reports.
var errConnectTimeout = errors.New("connect timeout")

// clock is the time the records are stamped with.
func (lp *Loop) clock() time.Time {
	if lp.Clock != nil {
		return lp.Clock()
	}
	return time.Now()
}

// startRecord fills rec from what is known once the request head is parsed,
// and sets the request ID on req (the head forwarded to the server).
func (lp *Loop) startRecord(rec *accesslog.Record, o *Origin, req *codec.Request, n int, p *backend.Pool) {
	if lp.IDs != nil {
		name := lp.IDs.Header()
		rec.RequestID = lp.IDs.RequestID(o.Client.Addr(), req.Header(name))
		setHeader(req, name, rec.RequestID)
	}
	if lp.Log == nil {
		return
	}
	now := lp.clock()
	start := o.Start
	if start.IsZero() || start.After(now) {
		start = now
	}
	id := rec.RequestID
	rec.Reset(start)
	rec.HeadParsed(now)
	rec.Kind = accesslog.KindHTTP
	if req.IsUpgrade() {
		rec.Kind = accesslog.KindWebSocket
	}
	rec.Client, rec.Listener, rec.Route, rec.Pool = o.Client, o.Listener, o.Route, p.Name
	rec.Method, rec.Target, rec.Proto = req.Method, req.Target, protoOf(req)
	rec.XFF = req.Header("X-Forwarded-For")
	rec.RequestID = id
	rec.BytesIn = int64(n)
}

func protoOf(req *codec.Request) string {
	if req.ProtoMinor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// setHeader replaces every field called name in req by one with value: the
// request ID the server gets is ours, never a second one from the client.
func setHeader(req *codec.Request, name, value string) {
	hs, j, set := req.Headers, 0, false
	for _, h := range hs {
		if codec.ASCIIEqualFold(h.Name, name) {
			if set {
				continue
			}
			h.Value, set = value, true
		}
		hs[j] = h
		j++
	}
	req.Headers = hs[:j]
	if !set {
		req.Headers = append(req.Headers, codec.HeaderField{Name: name, Value: value})
	}
}

// refused logs a request answered with an error before any session took it.
func (lp *Loop) refused(rec *accesslog.Record, status int, term accesslog.Termination, detail string) {
	if lp.Log == nil {
		return
	}
	rec.Status, rec.Term, rec.Detail = status, term, detail
	rec.End(lp.clock())
	lp.Log.Log(rec)
}

// granted stamps Tw and the server that got the request.
func (s *Session) granted(name string) {
	if s.pending {
		s.rec.QueueGranted(s.lp.clock())
		s.rec.Server = name
	}
}

// note sets the termination unless a more precise one was set already.
func (s *Session) note(term accesslog.Termination, detail string) {
	if s.rec.Term == accesslog.TermUnknown {
		s.rec.Term = term
		if s.rec.Detail == "" {
			s.rec.Detail = detail
		}
	}
}

// logEnd writes the request's line once, with term unless note set one.
func (s *Session) logEnd(term accesslog.Termination) {
	if !s.pending {
		return
	}
	s.pending = false
	s.note(term, "")
	s.rec.End(s.lp.clock())
	s.lp.Log.Log(s.rec)
}

// termOf is the termination of a request the gateway answers with status.
func termOf(status int) accesslog.Termination {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusRequestHeaderFieldsTooLarge:
		return accesslog.TermProtocolError
	case http.StatusRequestTimeout:
		return accesslog.TermTimeoutClient
	case http.StatusBadGateway:
		return accesslog.TermServerError
	case http.StatusServiceUnavailable:
		return accesslog.TermNoServer
	case http.StatusGatewayTimeout:
		return accesslog.TermTimeoutServer
	}
	return accesslog.TermProxyError
}

// detach copies the record's strings that share the request head's bytes
// (codec.Request's strings all do) into one small allocation of their own,
// so a record held for a long tunnel does not keep the whole head alive.
func detach(rec *accesslog.Record) {
	parts := [...]*string{&rec.Method, &rec.Target, &rec.XFF, &rec.RequestID}
	n := 0
	for _, p := range parts {
		n += len(*p)
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range parts {
		b.WriteString(*p)
	}
	all := b.String()
	for _, p := range parts {
		k := len(*p)
		*p, all = all[:k], all[k:]
	}
}
