package gateway

import (
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/wsgate/wsgate/router"
)

// publishHandler serves POST /v1/publish/{topic}: backends and other systems
// publish to a topic; the body is the payload (text frame, or binary with
// ?binary=1). It goes through the bus like a client's message.
func (g *Gateway) publishHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if !g.authorizedPublisher(r) && !g.jwtMayPublish(r) { // or a JWT whose publish claim names the topic (auth.go)
			w.Header().Set("WWW-Authenticate", `Bearer realm="wsgate"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		name := strings.Trim(r.PathValue("topic"), "/")
		if name == "" {
			http.Error(w, "no topic in path", http.StatusNotFound)
			return
		}
		limit := int64(g.cfg.MaxMessageBytes)
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "message over -max-message-bytes", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
			return
		}
		op := router.OpText
		if r.URL.Query().Get("binary") == "1" {
			op = router.OpBinary
		}
		if err := g.bus.Publish(name, op, body); err != nil {
			g.metrics.publishErrors.Inc()
			// The bus is full or closed: the caller should retry later.
			http.Error(w, "bus refused the message: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

// authorizedPublisher checks the bearer token. With no -publish-token set the
// API is open, which is only safe because the admin listener is on loopback by default.
func (g *Gateway) authorizedPublisher(r *http.Request) bool {
	if g.cfg.PublishToken == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(g.cfg.PublishToken)) == 1
}
