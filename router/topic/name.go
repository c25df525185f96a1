package topic

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxNameBytes is the longest topic name, in bytes after percent-decoding.
const MaxNameBytes = 256

// ErrEmptyName is returned by Name for an empty segment: callers answer it as
// "no such route/topic" (404), every other error as a bad request (400).
var ErrEmptyName = errors.New("empty topic name")

// Name is the one rule for topic names, shared by WebSocket paths
// (`-route /rooms/=topic:*`) and the publish API (`POST /v1/publish/{topic}`),
// so that a name reaches the same topic either way: the name is the
// percent-decoded path segment (a browser's `/rooms/%C3%A9t%C3%A9` is topic
// "été"), valid UTF-8, with no '/' before or after decoding (`a%2Fb` is not
// the topic of `/rooms/a/b`: it is refused), at most MaxNameBytes bytes.
//
// raw is the segment as it appears in the request target (still escaped).
func Name(raw string) (string, error) {
	if raw == "" {
		return "", ErrEmptyName
	}
	if strings.IndexByte(raw, '/') >= 0 {
		return "", fmt.Errorf("topic name %q: must be one path segment (no '/')", raw)
	}
	name, err := url.PathUnescape(raw)
	if err != nil {
		return "", fmt.Errorf("topic name %q: bad percent-encoding: %w", raw, err)
	}
	switch {
	case name == "":
		return "", ErrEmptyName
	case strings.IndexByte(name, '/') >= 0:
		return "", fmt.Errorf("topic name %q: contains '/' after decoding", raw)
	case !utf8.ValidString(name):
		return "", fmt.Errorf("topic name %q: not valid UTF-8 after decoding", raw)
	case len(name) > MaxNameBytes:
		return "", fmt.Errorf("topic name: %d bytes after decoding, at most %d", len(name), MaxNameBytes)
	}
	return name, nil
}
