package auth

import (
	"strings"

	"github.com/wsgate/wsgate/codec"
)

// The socket-free half of the auth subrequest (auth=request:POOL/PATH,
// nginx's auth_request): the request head the auth service gets, and what
// its answer means. The gateway sends the one and reads the other off its
// event loops (gateway/access).

// Forward is what a subrequest passes on from the client's request.
type Forward struct {
	Cookie        string // every Cookie field, joined with "; "
	Authorization string
	Origin        string
	XFF           string // X-Forwarded-For as received plus the client's address
	Proto         string // X-Forwarded-Proto: "http" (or "https" behind TLS termination)
	Host          string // the client's Host, sent as X-Forwarded-Host
	OriginalURI   string // the client's target, the token query parameter cut
}

// AppendSubrequest writes `GET path HTTP/1.1` to an auth server at
// serverHost with f's headers and no body. Connection: close: one
// subrequest per connection, so a server's maxconn counts subrequests.
// Values come from a parsed request head (no CR or LF in them).
func AppendSubrequest(dst []byte, path, serverHost string, f *Forward) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, serverHost...)
	dst = append(dst, "\r\n"...)
	for _, h := range [...]struct{ name, value string }{
		{"Cookie", f.Cookie}, {"Authorization", f.Authorization}, {"Origin", f.Origin},
		{"X-Forwarded-For", f.XFF}, {"X-Forwarded-Proto", f.Proto}, {"X-Forwarded-Host", f.Host},
		{"X-Original-URI", f.OriginalURI},
	} {
		if h.value != "" {
			dst = append(dst, h.name...)
			dst = append(dst, ": "...)
			dst = append(dst, h.value...)
			dst = append(dst, "\r\n"...)
		}
	}
	return append(dst, "Connection: close\r\n\r\n"...)
}

// Verdict is what an auth service's answer decides.
type Verdict uint8

const (
	Fail  Verdict = iota // no usable answer (other status, timeout, no server): 503, fail closed
	Allow                // 2xx: serve, within Topics / Publish when the answer set them
	Deny                 // 401 or 403: relayed to the client with the challenge
)

// Answer is an auth service's answer, reduced to what the gateway uses (and
// caches). The zero Answer is a failure.
type Answer struct {
	Status     int    // the service's status; 0 when there was no answer
	Challenge  string // WWW-Authenticate of a 401/403 (several fields joined with ", ")
	Topics     []string
	Publish    []string
	HasTopics  bool // Wsgate-Topics was present: it narrows subscriptions
	HasPublish bool // Wsgate-Publish was present: it decides publishing
}

// AnswerOf reads an answer head: its status and every field (name, value).
func AnswerOf(status int, fields func(yield func(name, value string) bool)) Answer {
	a := Answer{Status: status}
	if a.Verdict() == Fail {
		return Answer{Status: status}
	}
	for name, value := range fields {
		switch {
		case a.Verdict() == Deny && codec.ASCIIEqualFold(name, "WWW-Authenticate"):
			if a.Challenge != "" {
				a.Challenge += ", "
			}
			a.Challenge += value
		case a.Verdict() == Allow && codec.ASCIIEqualFold(name, "Wsgate-Topics"):
			a.HasTopics = true
			a.Topics = append(a.Topics, Patterns(value)...)
		case a.Verdict() == Allow && codec.ASCIIEqualFold(name, "Wsgate-Publish"):
			a.HasPublish = true
			a.Publish = append(a.Publish, Patterns(value)...)
		}
	}
	return a
}

// Verdict maps the status: 2xx allows, 401 and 403 deny, anything else
// (3xx, 404, 5xx, no answer) fails closed.
func (a *Answer) Verdict() Verdict {
	switch {
	case a.Status >= 200 && a.Status <= 299:
		return Allow
	case a.Status == 401 || a.Status == 403:
		return Deny
	}
	return Fail
}

// MaySubscribe: without Wsgate-Topics the answer does not narrow the route.
func (a *Answer) MaySubscribe(topic string) bool { return !a.HasTopics || Match(a.Topics, topic) }

// MayPublish reports whether the answer grants (true) or refuses (false)
// publishing to topic; decided is false when it said nothing (Wsgate-Publish
// absent), leaving the route's publish= mode in force.
func (a *Answer) MayPublish(topic string) (may, decided bool) {
	if !a.HasPublish {
		return false, false
	}
	return Match(a.Publish, topic), true
}

// Patterns splits a comma-separated list of topic patterns (the claims'
// grammar: exact names, or a prefix and '*'), dropping empty elements.
func Patterns(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
