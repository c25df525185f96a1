package gateway

import (
	"testing"

	"github.com/wsgate/wsgate/codec"
	"github.com/wsgate/wsgate/router/auth"
)

// TestForwardOf: what a subrequest takes from the client's head — every
// Cookie field, the first Authorization and Origin, X-Forwarded-For as
// received plus the client, the target without its token.
func TestForwardOf(t *testing.T) {
	head := "GET /rooms/news?a=1&token=s3cret&b=2 HTTP/1.1\r\nHost: chat.example\r\nCookie: a=1\r\n" +
		"Authorization: Basic eDp5\r\nCookie: sid=good\r\nOrigin: https://app.example\r\n" +
		"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2, 10.0.0.3\r\nX-Forwarded-Proto: https\r\n\r\n"
	req, n, err := codec.ParseRequestHead([]byte(head), 4096)
	if err != nil || n == 0 {
		t.Fatalf("parse: %v", err)
	}
	got, ok := forwardOf(req, "127.0.0.9")
	want := auth.Forward{Cookie: "a=1; sid=good", Authorization: "Basic eDp5", Origin: "https://app.example",
		XFF: "10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.9", Proto: "http", Host: "chat.example", OriginalURI: "/rooms/news?a=1&b=2"}
	if got != want || !ok {
		t.Errorf("forwardOf (%v):\n got  %+v\n want %+v", ok, got, want)
	}
	req, _, _ = codec.ParseRequestHead([]byte("GET /ws?token=x HTTP/1.1\r\nHost: h\r\n\r\n"), 4096)
	if got, _ := forwardOf(req, ""); got.OriginalURI != "/ws" || got.XFF != "" || got.Cookie != "" {
		t.Errorf("bare request: %+v", got)
	}
}

// Security review finding 5: a TLS client is reported as https, and a
// request with two Authorization fields is refused, not half forwarded.
func TestForwardOfProtoAndAuthorization(t *testing.T) {
	req, _, err := codec.ParseRequestHead([]byte("GET /ws HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\n\r\n"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	req.TLS = true
	if f, ok := forwardOf(req, ""); f.Proto != "https" || f.Authorization != "Bearer a" || !ok {
		t.Errorf("TLS client: %+v %v, want Proto https", f, ok)
	}
	req, _, err = codec.ParseRequestHead([]byte("GET /ws HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := forwardOf(req, ""); ok {
		t.Error("two Authorization fields accepted")
	}
}
