package codec

import "strings"

// CookieValue returns the value of cookie name in the request's Cookie headers.
func CookieValue(r *Request, name string) string {
	for _, h := range r.Headers {
		if !ASCIIEqualFold(h.Name, "Cookie") {
			continue
		}
		for part := range strings.SplitSeq(h.Value, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k == name {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}

// CookieAgreed returns the value of cookie name like CookieValue, and
// whether every occurrence of it (a Cookie header may repeat a name, and a
// request may carry several Cookie headers) has that same value: a server
// behind could read another one than the gateway did.
func CookieAgreed(r *Request, name string) (value string, agreed bool) {
	seen := false
	for _, h := range r.Headers {
		if !ASCIIEqualFold(h.Name, "Cookie") {
			continue
		}
		for part := range strings.SplitSeq(h.Value, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k != name {
				continue
			}
			v = strings.Trim(v, `"`)
			if seen && v != value {
				return value, false
			}
			value, seen = v, true
		}
	}
	return value, true
}

// RemoveCookie returns a Cookie header value without cookie name.
func RemoveCookie(value, name string) string {
	var kept []string
	for part := range strings.SplitSeq(value, ";") {
		p := strings.TrimSpace(part)
		if k, _, _ := strings.Cut(p, "="); k == name || p == "" {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, "; ")
}
