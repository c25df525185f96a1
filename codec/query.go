package codec

import (
	"net/url"
	"strings"
)

// Query parameters as a server reads them: names are compared decoded, so
// ?%74oken= is the parameter token too. A gateway that judges or cuts a
// parameter must read the query the way the server behind it will, or a
// client could hide a parameter from one of them.

// QueryParamName decodes the name of one query part (name=value); ok is
// false when the name does not decode.
func QueryParamName(part string) (name string, ok bool) {
	k, _, _ := strings.Cut(part, "=")
	if strings.IndexByte(k, '%') < 0 && strings.IndexByte(k, '+') < 0 {
		return k, true
	}
	n, err := url.QueryUnescape(k)
	return n, err == nil
}

// BadQueryParamName reports whether a raw query holds a parameter name that
// does not decode: a server might read it (leniently) as any name, so which
// parameter it is cannot be told.
func BadQueryParamName(raw string) bool {
	if strings.IndexByte(raw, '%') < 0 {
		return false
	}
	for part := range strings.SplitSeq(raw, "&") {
		if _, ok := QueryParamName(part); !ok {
			return true
		}
	}
	return false
}

// QueryParam returns the unescaped value of the first parameter name in a
// raw query ("" if absent), names compared decoded. A value that does not
// decode is returned as sent.
func QueryParam(raw, name string) string {
	for part := range strings.SplitSeq(raw, "&") {
		if k, ok := QueryParamName(part); ok && k == name {
			_, v, _ := strings.Cut(part, "=")
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
			return v
		}
	}
	return ""
}

// StripQueryParam rebuilds a request target (path plus raw query) without
// the parameters called name, names compared decoded; query is what is left
// of the raw query. A part whose name does not decode is kept.
func StripQueryParam(path, raw, name string) (target, query string) {
	if raw == "" {
		return path, ""
	}
	var kept []string
	for part := range strings.SplitSeq(raw, "&") {
		if k, ok := QueryParamName(part); !ok || k != name {
			kept = append(kept, part)
		}
	}
	query = strings.Join(kept, "&")
	if query == "" {
		return path, ""
	}
	return path + "?" + query, query
}
