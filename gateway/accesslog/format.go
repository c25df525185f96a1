package accesslog

import (
	"github.com/wsgate/wsgate/gateway/internal/jsonstr"
	"strconv"
	"time"
)

// The encoders append by hand (no encoding/json, no reflection, no fmt): one
// line costs its bytes in dst and nothing else. Every string a client could
// choose (X-Forwarded-For, target, method, request ID, user, detail) goes
// through an escaper, so no value can end a line, open a field or close a
// quote: a client cannot forge a log line.

// AppendJSON appends r as one JSON object and a newline. Fields, always all
// present and in this order (see the package documentation for meanings):
// time, kind, client, xff, listener, route, topic, pool, server, method, path,
// proto, status, tq_ms, tw_ms, tc_ms, tr_ms, tt_ms, bytes_in, bytes_out,
// msgs_in, msgs_out, close_code, closed_by, retries, redispatches,
// termination, term, request_id, user, detail.
func AppendJSON(dst []byte, r *Record) []byte {
	dst = append(dst, `{"time":"`...)
	dst = r.Time.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	dst = append(dst, `","kind":"`...)
	dst = append(dst, r.Kind.String()...)
	dst = append(dst, `","client":"`...)
	if r.Client.IsValid() {
		dst = r.Client.AppendTo(dst)
	}
	dst = append(dst, '"')
	dst = jsonField(dst, "xff", r.XFF)
	dst = jsonField(dst, "listener", r.Listener)
	dst = jsonField(dst, "route", r.Route)
	dst = jsonField(dst, "topic", r.Topic)
	dst = jsonField(dst, "pool", r.Pool)
	dst = jsonField(dst, "server", r.Server)
	dst = jsonField(dst, "method", r.Method)
	dst = append(dst, `,"path":"`...)
	dst = appendStripped(dst, r.Target, appendJSONChars)
	dst = append(dst, '"')
	dst = jsonField(dst, "proto", r.Proto)
	dst = jsonInt(dst, "status", int64(status(r.Status)))
	dst = jsonInt(dst, "tq_ms", ms(r.Tq))
	dst = jsonInt(dst, "tw_ms", ms(r.Tw))
	dst = jsonInt(dst, "tc_ms", ms(r.Tc))
	dst = jsonInt(dst, "tr_ms", ms(r.Tr))
	dst = jsonInt(dst, "tt_ms", ms(r.Tt))
	dst = jsonInt(dst, "bytes_in", r.BytesIn)
	dst = jsonInt(dst, "bytes_out", r.BytesOut)
	dst = jsonInt(dst, "msgs_in", r.MsgsIn)
	dst = jsonInt(dst, "msgs_out", r.MsgsOut)
	dst = jsonInt(dst, "close_code", int64(r.CloseCode))
	dst = jsonField(dst, "closed_by", r.ClosedBy.String())
	dst = jsonInt(dst, "retries", int64(r.Retries))
	dst = jsonInt(dst, "redispatches", int64(r.Redispatches))
	dst = jsonField(dst, "termination", r.Term.String())
	code := r.Code()
	dst = append(dst, `,"term":"`...)
	dst = append(dst, code[:]...)
	dst = append(dst, '"')
	dst = jsonField(dst, "request_id", r.RequestID)
	dst = jsonField(dst, "user", r.User)
	dst = jsonField(dst, "detail", r.Detail)
	return append(dst, "}\n"...)
}

// AppendText appends r as one line close to HAProxy's httplog, and a newline:
//
//	CLIENT:PORT [DATE] LISTENER ROUTE BACKEND Tq/Tw/Tc/Tr/Tt STATUS BYTES_OUT - - TERM
//	RETRIES/REDISPATCHES KIND TERMINATION BYTES_IN MSGS_IN/MSGS_OUT CLOSE_CODE/CLOSED_BY
//	REQUEST_ID USER {XFF|DETAIL} "METHOD PATH PROTO"
//
// (one line; wrapped here). The first thirteen fields are HAProxy's, in its
// order ("- -" stands where it prints captured cookies). Empty values print
// "-". In every value, bytes outside printable ASCII and the characters
// space (outside the braces), '"', '#', '{', '|' and '}' are written "#XX"
// (hex), as HAProxy escapes its logs.
func AppendText(dst []byte, r *Record) []byte {
	if r.Client.IsValid() {
		dst = r.Client.AppendTo(dst)
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, " ["...)
	dst = r.Time.UTC().AppendFormat(dst, "02/Jan/2006:15:04:05.000")
	dst = append(dst, "] "...)
	dst = textField(dst, r.Listener)
	dst = append(dst, ' ')
	dst = textField(dst, r.Route)
	dst = append(dst, ' ')
	switch {
	case r.Pool != "":
		dst = appendTextChars(dst, r.Pool)
		dst = append(dst, '/')
		if r.Server == "" {
			dst = append(dst, "<NOSRV>"...)
		} else {
			dst = appendTextChars(dst, r.Server)
		}
	case r.Topic != "":
		dst = append(dst, "topic:"...)
		dst = appendTextChars(dst, r.Topic)
	default:
		dst = append(dst, '-')
	}
	dst = append(dst, ' ')
	for i, d := range [...]time.Duration{r.Tq, r.Tw, r.Tc, r.Tr, r.Tt} {
		if i > 0 {
			dst = append(dst, '/')
		}
		dst = strconv.AppendInt(dst, ms(d), 10)
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(status(r.Status)), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, r.BytesOut, 10)
	dst = append(dst, " - - "...)
	code := r.Code()
	dst = append(dst, code[:]...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(r.Retries), 10)
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, int64(r.Redispatches), 10)
	dst = append(dst, ' ')
	dst = append(dst, r.Kind.String()...)
	dst = append(dst, ' ')
	dst = append(dst, r.Term.String()...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, r.BytesIn, 10)
	dst = append(dst, ' ')
	if r.Kind == KindWebSocket {
		dst = strconv.AppendInt(dst, r.MsgsIn, 10)
		dst = append(dst, '/')
		dst = strconv.AppendInt(dst, r.MsgsOut, 10)
	} else {
		dst = append(dst, "-/-"...)
	}
	dst = append(dst, ' ')
	if r.CloseCode != 0 {
		dst = strconv.AppendInt(dst, int64(r.CloseCode), 10)
	} else {
		dst = append(dst, '-')
	}
	dst = append(dst, '/')
	dst = textField(dst, r.ClosedBy.String())
	dst = append(dst, ' ')
	dst = textField(dst, r.RequestID)
	dst = append(dst, ' ')
	dst = textField(dst, r.User)
	dst = append(dst, " {"...)
	dst = appendTextCharsSpace(dst, r.XFF)
	dst = append(dst, '|')
	dst = appendTextCharsSpace(dst, r.Detail)
	dst = append(dst, "} \""...)
	if r.Method == "" {
		dst = append(dst, '-')
	} else {
		dst = appendTextChars(dst, r.Method)
		dst = append(dst, ' ')
		dst = appendStripped(dst, r.Target, appendTextChars)
		if r.Proto != "" {
			dst = append(dst, ' ')
			dst = appendTextChars(dst, r.Proto)
		}
	}
	return append(dst, "\"\n"...)
}

// ms is a timer in milliseconds, -1 for a phase that did not happen.
func ms(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}

// status is the status to print: -1 when none was sent, as HAProxy does.
func status(s int) int {
	if s <= 0 {
		return -1
	}
	return s
}

func jsonField(dst []byte, name, v string) []byte {
	dst = append(dst, `,"`...)
	dst = append(dst, name...)
	dst = append(dst, `":"`...)
	dst = appendJSONChars(dst, v)
	return append(dst, '"')
}

func jsonInt(dst []byte, name string, v int64) []byte {
	dst = append(dst, `,"`...)
	dst = append(dst, name...)
	dst = append(dst, `":`...)
	return strconv.AppendInt(dst, v, 10)
}

const hexDigits = "0123456789abcdef"

// appendJSONChars is jsonstr.AppendChars (shared with wsgate.v1's envelopes).
func appendJSONChars(dst []byte, s string) []byte { return jsonstr.AppendChars(dst, s) }

// textField appends s for the text format, "-" when empty.
func textField(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	return appendTextChars(dst, s)
}

func appendTextChars(dst []byte, s string) []byte      { return appendTextEsc(dst, s, false) }
func appendTextCharsSpace(dst []byte, s string) []byte { return appendTextEsc(dst, s, true) }

// appendTextEsc writes every byte that could break the line's fields as
// "#XX": controls (CR, LF, NUL...), DEL and non-ASCII bytes (so invalid UTF-8
// too), '"' (the request is quoted), '#' (the escape itself), '{', '|', '}'
// (the braces block), and space unless space is allowed.
func appendTextEsc(dst []byte, s string, space bool) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > ' ' && c < 0x7f && c != '"' && c != '#' && c != '{' && c != '|' && c != '}' || c == ' ' && space {
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, '#', hexDigits[c>>4], hexDigits[c&0xf])
		start = i + 1
	}
	return append(dst, s[start:]...)
}
