package router

import (
	"fmt"
	"time"
)

// Every topic route shares one topic namespace: `/rooms/x` and `/scores/x`
// reach the same topic x, and so does a wsgate.v1 subscribe or publish to x
// from any topic route. A topic's access rules therefore come from the
// topic, not from the URL it was reached by (TopicPolicy), and the routes
// that can reach one topic must agree on auth= (checkTopicAuth).

// TopicPolicy is the access control of one topic: the strictest publish=
// and the auth= of every topic route that can yield it.
type TopicPolicy struct {
	Publish   PublishMode
	Auth      AuthMode
	AuthPool  string // auth=request:POOL/PATH
	AuthPath  string
	AuthCache time.Duration
}

// yields reports whether topic route r can lead to topic: a wildcard leads
// to any name, a fixed route to its own.
func (r Route) yields(topic string) bool {
	return r.Kind == TargetTopic && (r.Wildcard() || r.Name == topic)
}

// TopicPolicy computes topic's access rules from every topic route that can
// yield it: publish=none on any of them applies; auth= is the same on all
// of them (Validate refuses a configuration where it is not), else the
// strictest found (jwt over request over none) is kept, failing closed.
func (s *Snapshot) TopicPolicy(topic string) TopicPolicy {
	var p TopicPolicy
	for _, r := range s.routes.Routes() {
		if !r.yields(topic) {
			continue
		}
		if r.Publish == PublishNone {
			p.Publish = PublishNone
		}
		if authRank(r.Auth) > authRank(p.Auth) {
			p.Auth, p.AuthPool, p.AuthPath, p.AuthCache = r.Auth, r.AuthPool, r.AuthPath, r.AuthCache
		}
	}
	return p
}

// authRank orders auth modes from the weakest: none, request, jwt.
func authRank(m AuthMode) int {
	switch m {
	case AuthJWT:
		return 2
	case AuthRequest:
		return 1
	}
	return 0
}

// Apply returns topic route r with the policy's access control in place of
// its own, for the checks made at the upgrade. Validate ensures every route
// that reaches the topic authenticates alike (sameAuth), so r keeps its own
// auth-cache= then; otherwise the policy's auth applies, failing closed.
func (p TopicPolicy) Apply(r Route) Route {
	r.Publish = p.Publish
	if r.Auth != p.Auth || r.AuthPool != p.AuthPool || r.AuthPath != p.AuthPath {
		r.Auth, r.AuthPool, r.AuthPath, r.AuthCache = p.Auth, p.AuthPool, p.AuthPath, p.AuthCache
	}
	return r
}

// sameAuth reports whether two routes authenticate alike: the same mode
// and, for auth=request, the same service (a weaker service on another route
// would be a way around the stronger one). auth-cache= may differ.
func sameAuth(a, b Route) bool {
	return a.Auth == b.Auth && (a.Auth != AuthRequest || (a.AuthPool == b.AuthPool && a.AuthPath == b.AuthPath))
}

// authDesc is a route's auth= as written, the service included.
func authDesc(r Route) string {
	if r.Auth == AuthRequest {
		return "request:" + r.AuthPool + r.AuthPath
	}
	return authNames[r.Auth]
}

// authNames are the auth= values as a route spec writes them.
var authNames = [...]string{AuthNone: "none", AuthJWT: "jwt", AuthRequest: "request"}

// checkTopicAuth reports topic routes that can reach the same topic with
// different auth= modes: two wildcards, a fixed route and a wildcard, or two
// fixed routes naming one topic. Otherwise the weaker route would be a way
// around the stronger one (`/open/secret` instead of `/vip/secret`).
func checkTopicAuth(routes []Route) []error {
	var errs []error
	for i, a := range routes {
		if a.Kind != TargetTopic {
			continue
		}
		for _, b := range routes[i+1:] {
			if b.Kind != TargetTopic || sameAuth(a, b) || !(a.Wildcard() || b.Wildcard() || a.Name == b.Name) {
				continue
			}
			errs = append(errs, fmt.Errorf("-route %q (auth=%s) and %q (auth=%s) share one topic namespace: "+
				"give them the same auth= or make sure they cannot name the same topic (no topic:* route beside them)",
				a.Spec, authDesc(a), b.Spec, authDesc(b)))
		}
	}
	return errs
}
