package auth

import (
	"slices"
	"testing"
	"time"
)

// TestAppendSubrequest: the head an auth service gets — the forwarded
// headers, empty ones left out, no body, one request per connection.
func TestAppendSubrequest(t *testing.T) {
	f := Forward{Cookie: "a=1; sid=good", Authorization: "Basic eDp5", Origin: "https://app.example",
		XFF: "10.0.0.1, 127.0.0.1", Proto: "http", Host: "chat.example", OriginalURI: "/rooms/news?x=1"}
	got := string(AppendSubrequest(nil, "/auth", "127.0.0.1:9000", &f))
	want := "GET /auth HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nCookie: a=1; sid=good\r\nAuthorization: Basic eDp5\r\n" +
		"Origin: https://app.example\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.1\r\nX-Forwarded-Proto: http\r\n" +
		"X-Forwarded-Host: chat.example\r\nX-Original-URI: /rooms/news?x=1\r\nConnection: close\r\n\r\n"
	if got != want {
		t.Errorf("head:\n%q\nwant\n%q", got, want)
	}
	got = string(AppendSubrequest(nil, "/", "h:1", &Forward{Proto: "http", OriginalURI: "/ws"}))
	if want := "GET / HTTP/1.1\r\nHost: h:1\r\nX-Forwarded-Proto: http\r\nX-Original-URI: /ws\r\nConnection: close\r\n\r\n"; got != want {
		t.Errorf("no credentials:\n%q\nwant\n%q", got, want)
	}
}

func fieldsOf(kv ...string) func(yield func(string, string) bool) {
	return func(yield func(string, string) bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if !yield(kv[i], kv[i+1]) {
				return
			}
		}
	}
}

// TestAnswerOf: status → verdict, and what each verdict keeps of the head.
func TestAnswerOf(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   Verdict
	}{{200, Allow}, {204, Allow}, {299, Allow}, {401, Deny}, {403, Deny}, {0, Fail}, {301, Fail}, {302, Fail},
		{400, Fail}, {404, Fail}, {407, Fail}, {500, Fail}, {502, Fail}, {503, Fail}, {101, Fail}} {
		a := AnswerOf(tc.status, fieldsOf())
		if a.Verdict() != tc.want {
			t.Errorf("status %d: verdict %d, want %d", tc.status, a.Verdict(), tc.want)
		}
	}
	a := AnswerOf(204, fieldsOf("wsgate-topics", " news, room-* ,", "Wsgate-Publish", "room-1", "WWW-Authenticate", "x"))
	if !a.HasTopics || !slices.Equal(a.Topics, []string{"news", "room-*"}) || !slices.Equal(a.Publish, []string{"room-1"}) || a.Challenge != "" {
		t.Fatalf("2xx answer: %+v", a)
	}
	for topic, want := range map[string]bool{"news": true, "room-7": true, "room-": true, "newsy": false, "secret": false} {
		if a.MaySubscribe(topic) != want {
			t.Errorf("MaySubscribe(%q) = %v", topic, !want)
		}
	}
	if may, decided := a.MayPublish("room-1"); !may || !decided {
		t.Errorf("MayPublish(room-1) = %v %v", may, decided)
	}
	if may, decided := a.MayPublish("room-2"); may || !decided {
		t.Errorf("MayPublish(room-2) = %v %v", may, decided)
	}
	// No Wsgate-* headers: nothing narrowed, publishing left to the route.
	open := AnswerOf(200, fieldsOf("Content-Type", "text/plain"))
	if !open.MaySubscribe("anything") {
		t.Error("an answer without Wsgate-Topics narrowed the route")
	}
	if _, decided := open.MayPublish("x"); decided {
		t.Error("an answer without Wsgate-Publish decided publishing")
	}
	// An empty Wsgate-Topics grants nothing.
	if none := AnswerOf(200, fieldsOf("Wsgate-Topics", "")); none.MaySubscribe("news") {
		t.Error("an empty Wsgate-Topics granted a topic")
	}
	deny := AnswerOf(401, fieldsOf("WWW-Authenticate", "Cookie realm=x", "Wsgate-Topics", "*", "www-authenticate", `Basic realm="y"`))
	if deny.Verdict() != Deny || deny.Challenge != `Cookie realm=x, Basic realm="y"` || deny.HasTopics {
		t.Errorf("401 answer: %+v", deny)
	}
	if fail := AnswerOf(500, fieldsOf("WWW-Authenticate", "x", "Wsgate-Topics", "*")); fail.Challenge != "" || fail.HasTopics {
		t.Errorf("500 answer kept headers: %+v", fail)
	}
}

// TestCache: answers are kept for the asking route's duration, failures
// never, and the entry count stays bounded.
func TestCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := NewCache(3, func() time.Time { return now })
	f := Forward{Cookie: "sid=good", OriginalURI: "/rooms/news"}
	k := Key("authz", "/auth", &f)
	if _, ok := c.Get(k, time.Minute); ok {
		t.Fatal("hit in an empty cache")
	}
	c.Put(k, Answer{Status: 204, HasTopics: true, Topics: []string{"news"}}, time.Minute)
	if a, ok := c.Get(k, time.Minute); !ok || a.Status != 204 || !a.MaySubscribe("news") || a.MaySubscribe("x") {
		t.Fatalf("Get after Put: %+v %v", a, ok)
	}
	now = now.Add(30 * time.Second)
	if _, ok := c.Get(k, 10*time.Second); ok {
		t.Error("a route with a shorter auth-cache got an older answer")
	}
	if _, ok := c.Get(k, time.Minute); !ok {
		t.Error("answer gone before its time")
	}
	now = now.Add(30 * time.Second)
	if _, ok := c.Get(k, time.Minute); ok {
		t.Error("answer kept past its time")
	}
	// Every credential and the target are part of the key.
	for _, g := range []Forward{{Cookie: "sid=bad", OriginalURI: "/rooms/news"}, {Cookie: "sid=good", OriginalURI: "/rooms/other"},
		{Cookie: "sid=good", Authorization: "x", OriginalURI: "/rooms/news"}, {Cookie: "sid=good", Origin: "o", OriginalURI: "/rooms/news"},
		// review finding 5: the Host (tenant) and the scheme the service sees
		{Cookie: "sid=good", OriginalURI: "/rooms/news", Host: "tenant-b.example"},
		{Cookie: "sid=good", OriginalURI: "/rooms/news", Proto: "https"}} {
		if Key("authz", "/auth", &g) == k {
			t.Errorf("%+v has the key of %+v", g, f)
		}
	}
	if Key("authz", "/other", &f) == k || Key("authz2", "/auth", &f) == k {
		t.Error("the auth service is not part of the key")
	}
	// Failures are not stored.
	c2 := NewCache(3, func() time.Time { return now })
	for _, st := range []int{0, 500, 502, 503, 404} {
		c2.Put(k, Answer{Status: st}, time.Minute)
	}
	if c2.Len() != 0 {
		t.Errorf("%d failures cached", c2.Len())
	}
	c2.Put(k, Answer{Status: 401, Challenge: "Cookie realm=x"}, time.Minute)
	if a, ok := c2.Get(k, time.Minute); !ok || a.Challenge != "Cookie realm=x" {
		t.Errorf("401 not cached: %+v %v", a, ok)
	}
	// Bounded: never more than max entries.
	for i := range 100 {
		g := Forward{Cookie: string(rune('a' + i%26)), OriginalURI: time.Duration(i).String()}
		c2.Put(Key("p", "/", &g), Answer{Status: 200}, time.Minute)
		if c2.Len() > 3 {
			t.Fatalf("%d entries, max 3", c2.Len())
		}
	}
}
