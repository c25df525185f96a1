package router

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCleanPath(t *testing.T) {
	ok := map[string]string{
		"/rooms/lobby":         "/rooms/lobby",
		"/rooms/%61nnounce":    "/rooms/announce",
		"/%72ooms/%7E%2d%5F":   "/rooms/~-_",
		"/rooms/%C3%A9t%C3%A9": "/rooms/%C3%A9t%C3%A9", // not unreserved: TopicName decodes it, once
		"/rooms/%2561":         "/rooms/%2561",         // %25 stays: no double decoding
		"/rooms/":              "/rooms/",
		"/":                    "/",
		"/a.b/..c/.d/c..":      "/a.b/..c/.d/c..",
		"/rooms/%zz":           "/rooms/%zz", // TopicName refuses it with its own message
		"/a%":                  "/a%",
		"*":                    "*",
	}
	for in, want := range ok {
		if got, err := CleanPath(in); err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"//", "/rooms//announce", "/rooms/x//", "/public/../internal/secret", "/public/%2e%2e/internal",
		"/public/%2E./x", "/./x", "/x/.", "/x/..", "/public/..%2finternal", "/a%2Fb", "/a%5cb", "/a/%2E"} {
		if got, err := CleanPath(in); !errors.Is(err, ErrBadPath) {
			t.Errorf("CleanPath(%q) = %q, %v; want ErrBadPath", in, got, err)
		}
	}
}

// The route is chosen on the clean path: an encoded name cannot miss a
// fixed route's prefix, and `//` or dot segments are refused (400).
func TestMatchCleanPath(t *testing.T) {
	s := &Snapshot{routes: mustTable(t, "/rooms/=topic:*", "/rooms/announce=topic:announce;publish=none", "/public/=topic:*")}
	for _, p := range []string{"/rooms/%61nnounce", "/rooms/announce", "/%72ooms/announce"} {
		if d := s.Match(&Request{Path: p, Upgrade: true}); d.Status != 0 || d.Route.Spec != "/rooms/announce=topic:announce;publish=none" {
			t.Errorf("%s: %d %q, want the fixed route", p, d.Status, d.Route.Spec)
		}
	}
	for _, p := range []string{"/rooms//announce", "/public/../rooms/announce", "/public/%2e%2e/rooms/announce", "/public/..%2frooms"} {
		if d := s.Match(&Request{Path: p, Upgrade: true}); d.Status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", p, d.Status)
		}
	}
}

func TestTopicPolicy(t *testing.T) {
	s := &Snapshot{routes: mustTable(t,
		"/rooms/=topic:*;auth=jwt",
		"/scores/=topic:*;publish=none;auth=jwt",
		"/chat=topic:chat;auth=jwt",
		"/news=topic:news;auth=jwt",
		"/api=backend:app;auth=request:authz/x", // not a topic route: ignored
	)}
	// publish=none of a wildcard applies to every topic (strictest).
	for _, topic := range []string{"x", "chat", "news"} {
		if p := s.TopicPolicy(topic); p.Publish != PublishNone || p.Auth != AuthJWT {
			t.Errorf("TopicPolicy(%q) = %+v, want publish=none auth=jwt", topic, p)
		}
	}
	s = &Snapshot{routes: mustTable(t, "/rooms/=topic:*", "/rooms/announce=topic:announce;publish=none", "/a=topic:vip", "/b=topic:vip;auth=request:authz/x")}
	if p := s.TopicPolicy("announce"); p.Publish != PublishNone || p.Auth != AuthNone {
		t.Errorf("announce: %+v, want publish=none (the fixed route) whatever the URL", p)
	}
	if p := s.TopicPolicy("lobby"); p.Publish != PublishClients || p.Auth != AuthNone {
		t.Errorf("lobby: %+v, want the wildcard's", p)
	}
	// Disagreeing auth= (refused by Validate) fails closed: the strictest is kept.
	if p := s.TopicPolicy("vip"); p.Auth != AuthRequest || p.AuthPool != "authz" || p.AuthPath != "/x" {
		t.Errorf("vip: %+v, want auth=request:authz/x", p)
	}
	r := s.TopicPolicy("announce").Apply(Route{Kind: TargetTopic, Name: "*", Prefix: "/rooms/"})
	if r.Publish != PublishNone || r.Prefix != "/rooms/" || !r.Wildcard() {
		t.Errorf("Apply: %+v", r)
	}
	// Another auth service (refused by Validate) fails closed: the policy's service decides.
	own := Route{Kind: TargetTopic, Name: "vip", Auth: AuthRequest, AuthPool: "mine", AuthPath: "/y"}
	if r := s.TopicPolicy("vip").Apply(own); r.AuthPool != "authz" || r.AuthPath != "/x" {
		t.Errorf("Apply, another service: %+v", r)
	}
	// The same service: the route keeps its own auth-cache=.
	same := Route{Kind: TargetTopic, Name: "vip", Auth: AuthRequest, AuthPool: "authz", AuthPath: "/x", AuthCache: time.Minute}
	if r := s.TopicPolicy("vip").Apply(same); r.AuthCache != time.Minute {
		t.Errorf("Apply, same service: %+v", r)
	}
	if r := s.TopicPolicy("vip").Apply(Route{Kind: TargetTopic, Name: "vip"}); r.Auth != AuthRequest || r.AuthPool != "authz" {
		t.Errorf("Apply, weaker mode: %+v", r)
	}
}

// Validate refuses topic routes that can reach one topic with different auth=.
func TestValidateTopicAuth(t *testing.T) {
	bad := [][]string{
		{"/rooms/=topic:*;publish=none;auth=jwt", "/scores/=topic:*;publish=none"}, // README's old example
		{"/rooms/=topic:*", "/rooms/vip=topic:vip;auth=jwt"},
		{"/rooms/vip=topic:vip;auth=jwt", "/open/=topic:*"},
		{"/a=topic:vip", "/b=topic:vip;auth=request:authz/x"},
		{"/rooms/=topic:*;auth=jwt", "/live/=topic:*;auth=request:authz/x"},
		// Two auth services: the weaker one would be a way around the other.
		{"/q/=topic:*;auth=request:authz/a", "/n/=topic:*;auth=request:authz/b"},
		{"/q/=topic:*;auth=request:authz/a", "/n/vip=topic:vip;auth=request:other/a"},
	}
	for _, routes := range bad {
		c := Config{Routes: routes, Backends: []string{"authz=127.0.0.1:1"}}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "share one topic namespace: give them the same auth=") {
			t.Errorf("%q: %v, want the one-namespace error", routes, err)
		}
	}
	good := [][]string{
		{"/rooms/=topic:*;publish=none;auth=jwt", "/scores/=topic:*;auth=jwt", "/chat=topic:chat;auth=jwt", "/api=backend:authz"},
		{"/rooms/=topic:*", "/rooms/announce=topic:announce;publish=none"},
		{"/a=topic:vip;auth=jwt", "/b=topic:lobby", "/c=topic:vip;auth=jwt;publish=none"},
		{"/q/=topic:*;auth=request:authz/a", "/n/=topic:*;auth=request:authz/a;auth-cache=30s"}, // one service; caching may differ
		{"/q/=topic:q;auth=request:authz/a", "/n/=topic:n;auth=request:authz/b"},                // distinct fixed topics
	}
	for _, routes := range good {
		c := Config{Routes: routes, Backends: []string{"authz=127.0.0.1:1"}}
		if err := c.Validate(); err != nil {
			t.Errorf("%q: %v", routes, err)
		}
	}
}
