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
