package router

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadPath is CleanPath's answer for a path the gateway refuses to route
// (400): it could mean another path to a backend that normalises it.
var ErrBadPath = errors.New("bad request path")

// CleanPath returns the path routes are matched on: path with every
// percent-encoded unreserved character (RFC 3986 2.3: ALPHA DIGIT - . _ ~)
// decoded, so `/rooms/%61nnounce` is `/rooms/announce` and cannot miss a
// route's prefix. It refuses (ErrBadPath) what a backend or the topic rule
// could read as another path: an empty segment (`//`), a dot segment (`.`,
// `..`, encoded or not) and an encoded '/' or '\' (%2F, %5C). Other escapes
// stay as they are (a topic name is decoded once, by TopicName). A path that
// is not origin-form (`*`) is returned unchanged.
func CleanPath(path string) (string, error) {
	if !strings.HasPrefix(path, "/") {
		return path, nil
	}
	clean := path
	if strings.IndexByte(path, '%') >= 0 {
		b := make([]byte, 0, len(path))
		for i := 0; i < len(path); i++ {
			c := path[i]
			if c == '%' && i+2 < len(path) {
				if hi, lo := unhex(path[i+1]), unhex(path[i+2]); hi < 16 && lo < 16 {
					d := hi<<4 | lo
					switch {
					case d == '/' || d == '\\':
						return "", fmt.Errorf("%w: encoded '/' or '\\'", ErrBadPath)
					case isUnreserved(d):
						b = append(b, d)
						i += 2
						continue
					}
				}
			}
			b = append(b, c)
		}
		clean = string(b)
	}
	if strings.Contains(clean, "//") {
		return "", fmt.Errorf("%w: empty segment (//)", ErrBadPath)
	}
	for seg := range strings.SplitSeq(clean[1:], "/") {
		if seg == "." || seg == ".." {
			return "", fmt.Errorf("%w: dot segment (. or ..)", ErrBadPath)
		}
	}
	return clean, nil
}

// unhex is the value of a hex digit, or 16 for another byte.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 16
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
