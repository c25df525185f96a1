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
	got := forwardOf(req, "127.0.0.9")
	want := auth.Forward{Cookie: "a=1; sid=good", Authorization: "Basic eDp5", Origin: "https://app.example",
		XFF: "10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.9", Proto: "http", Host: "chat.example", OriginalURI: "/rooms/news?a=1&b=2"}
	if got != want {
		t.Errorf("forwardOf:\n got  %+v\n want %+v", got, want)
	}
	req, _, _ = codec.ParseRequestHead([]byte("GET /ws?token=x HTTP/1.1\r\nHost: h\r\n\r\n"), 4096)
	if got := forwardOf(req, ""); got.OriginalURI != "/ws" || got.XFF != "" || got.Cookie != "" {
		t.Errorf("bare request: %+v", got)
	}
}
