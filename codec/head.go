package codec

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
)

// This file holds the one HTTP/1 head grammar (RFC 9112 sections 2-5) that
// request heads, response heads and the health check's status line share:
// lines end in CRLF or a bare LF (2.2 lets a recipient accept the latter; a
// bare CR anywhere is refused), empty lines before the start line are
// skipped, a field line is token ":" OWS field-value OWS with no control
// character but HTAB in the value, obs-fold and whitespace before the first
// field are refused, and a head is bounded in bytes and in fields. Only the
// start line differs by direction (checkRequestLine, checkStatusLine), plus
// the request's Host rules. AppendHeader is the one header writer.

// HeaderField is one header line, name and value as sent (the value without
// surrounding whitespace).
type HeaderField struct{ Name, Value string }

// HTTPError is an HTTP-level refusal: the gateway answers with Status (see
// AppendError) and closes the connection.
type HTTPError struct {
	Status int
	Reason string
}

func (e *HTTPError) Error() string {
	return "http " + strconv.Itoa(e.Status) + ": " + e.Reason
}

// ErrHeadTooLarge is returned by ParseRequestHead when no complete head fits
// in max bytes.
var ErrHeadTooLarge error = &HTTPError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "request head too large"}

// ErrTooManyFields is returned when a head has more header fields than the
// limit given (ParseRequestHeadLimits, ParseResponseHeadLimits).
var ErrTooManyFields error = &HTTPError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "too many header fields"}

func badRequest(reason string) error {
	return &HTTPError{Status: http.StatusBadRequest, Reason: reason}
}

// scanned is what scanHead learned of a complete head.
type scanned struct {
	n      int // length of the head, empty line included
	start  int // where the start line begins (after skipped empty lines)
	fields int // header field lines
	hosts  int // Host fields among them
	minor  int // HTTP/1.minor from the start line
}

// startLineFunc checks a start line (without its line end) and returns the
// minor version it names.
type startLineFunc func(line []byte) (minor int, err error)

// scanHead validates the head at the start of buf line by line, each line as
// soon as it is complete, so garbage is refused without waiting for
// maxBytes. It returns s.n == 0 while the head is incomplete.
//
// Errors are *HTTPError: 400 for bad grammar, ErrHeadTooLarge when no
// complete head lies within maxBytes (<= 0: no limit), ErrTooManyFields over
// maxFields (<= 0: no limit).
func scanHead(buf []byte, maxBytes, maxFields int, startLine startLineFunc) (s scanned, err error) {
	b := buf
	if maxBytes > 0 && len(b) > maxBytes {
		b = b[:maxBytes]
	}
	pos := 0
	sawStart := false
	for {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			if maxBytes > 0 && len(buf) >= maxBytes {
				return scanned{}, ErrHeadTooLarge
			}
			return scanned{}, nil
		}
		line := b[pos : pos+i]
		next := pos + i + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if bytes.IndexByte(line, '\r') >= 0 {
			return scanned{}, badRequest("bare CR in head")
		}
		switch {
		case !sawStart && len(line) == 0:
			// RFC 9112 2.2: ignore empty lines before the start line.
			s.start = next
		case !sawStart:
			if s.minor, err = startLine(line); err != nil {
				return scanned{}, err
			}
			sawStart = true
		case len(line) == 0:
			s.n = next
			return s, nil
		default:
			isHost, err := checkFieldLine(line)
			if err != nil {
				return scanned{}, err
			}
			if isHost {
				s.hosts++
			}
			if s.fields++; maxFields > 0 && s.fields > maxFields {
				return scanned{}, ErrTooManyFields
			}
		}
		pos = next
	}
}

// checkFieldLine checks "field-name ":" OWS field-value OWS" (RFC 9112 5,
// RFC 9110 5.5) and reports whether the field is Host.
func checkFieldLine(line []byte) (isHost bool, err error) {
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold (or whitespace before the first field): RFC 9112 5.2
		// lets a server refuse it with 400 and a gateway with 502, which
		// avoids two views of the head.
		return false, badRequest("obsolete line folding in header")
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(line[:colon]) {
		return false, badRequest("bad header line")
	}
	if !isFieldText(line[colon+1:]) {
		return false, badRequest("control character in header value")
	}
	return colon == 4 && ASCIIEqualFold(string(line[:colon]), "host"), nil
}

// isFieldText reports whether b holds only SP, HTAB, VCHAR and obs-text: the
// characters of a field value and of a reason phrase.
func isFieldText(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// checkVersion checks HTTP-version (RFC 9112 2.3: case-sensitive "HTTP/"
// DIGIT "." DIGIT) and returns the minor version; only major version 1 is
// spoken here.
func checkVersion(proto []byte) (minor int, ok bool) {
	if len(proto) != 8 || string(proto[:7]) != "HTTP/1." || proto[7] < '0' || proto[7] > '9' {
		return 0, false
	}
	return int(proto[7] - '0'), true
}

// isToken reports whether b is a non-empty RFC 9110 token (1*tchar).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchars[c] {
			return false
		}
	}
	return true
}

// tchars is the RFC 9110 tchar set as a lookup table (immutable).
var tchars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// splitHead splits the already validated head s (start line first, skipped
// empty lines already cut off) into its start line and nfields fields.
func splitHead(s string, nfields int) (start string, fields []HeaderField) {
	start, s = cutLine(s)
	fields = make([]HeaderField, 0, nfields)
	for {
		var line string
		line, s = cutLine(s)
		if line == "" {
			return start, fields
		}
		name, value, _ := strings.Cut(line, ":")
		fields = append(fields, HeaderField{Name: name, Value: strings.Trim(value, " \t")})
	}
}

func cutLine(s string) (line, rest string) {
	line, rest, _ = strings.Cut(s, "\n")
	return strings.TrimSuffix(line, "\r"), rest
}

func headerValue(hs []HeaderField, name string) string {
	for _, h := range hs {
		if ASCIIEqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// FieldsHaveToken reports whether some field called name lists token
// (HasToken): a list field may be split over several lines (RFC 9110
// 5.3), so "Connection: keep-alive" then "Connection: close" means close.
func FieldsHaveToken(hs []HeaderField, name, token string) bool {
	for _, h := range hs {
		if ASCIIEqualFold(h.Name, name) && HasToken(h.Value, token) {
			return true
		}
	}
	return false
}

// ASCIIEqualFold reports whether a and b are equal under ASCII case folding
// only. Field names and the tokens of Transfer-Encoding, Connection and
// Upgrade are ASCII (RFC 9110 5.1, 5.6.2); strings.EqualFold also folds
// Unicode, so "chun\u212Aed" (a Kelvin sign for the k) would count as
// chunked here while the server behind sees an unknown coding: a framing
// disagreement. A non-ASCII byte never matches an ASCII letter.
func ASCIIEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// HasToken reports whether the comma-separated list v holds token
// (case-insensitive), ignoring optional whitespace around elements.
func HasToken(v, token string) bool {
	for v != "" {
		var elem string
		elem, v, _ = strings.Cut(v, ",")
		if ASCIIEqualFold(strings.Trim(elem, " \t"), token) {
			return true
		}
	}
	return false
}

// AppendHeader appends "name: value\r\n": the one header writer, for
// requests and responses alike.
func AppendHeader(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}
