package admin

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
func (g *Server) publishHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		// The same rule as WebSocket paths: the escaped segment, decoded once
		// (PathValue would have decoded %2F into a '/').
		name, err := router.TopicName(strings.Trim(strings.TrimPrefix(r.URL.EscapedPath(), "/v1/publish/"), "/"))
		// The operator's credentials, or a JWT whose publish claim names the topic.
		if !g.authorizedPublisher(r) && (err != nil || !g.gw.MayPublish(r, name)) {
			g.refusePublisher(w)
			return
		}
		if errors.Is(err, router.ErrEmptyTopicName) {
			http.Error(w, "no topic in path", http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body, ok := readBody(w, r, int64(g.cfg.MaxMessageBytes), "message over -max-message-bytes")
		if !ok {
			return
		}
		op := router.OpText
		if r.URL.Query().Get("binary") == "1" {
			op = router.OpBinary
		}
		if err := g.bus.Publish(name, op, body); err != nil {
			g.publishErrors.Inc()
			// The bus is full or closed: the caller should retry later.
			http.Error(w, "bus refused the message: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

// authorizedPublisher checks the bearer token, or the -stats-auth credentials
// (which open every admin path). With neither set the API is open, which is
// only safe because the admin listener is on loopback by default.
func (g *Server) authorizedPublisher(r *http.Request) bool {
	if g.cfg.PublishToken == "" && g.cfg.StatsAuth == "" {
		return true
	}
	if g.cfg.PublishToken != "" {
		got, ok := authCredentials(r, "Bearer")
		if ok && subtle.ConstantTimeCompare([]byte(got), []byte(g.cfg.PublishToken)) == 1 {
			return true
		}
	}
	return g.cfg.StatsAuth != "" && g.statsAuthorized(r)
}

// readBody reads a request body of at most limit bytes; over it, or on a read
// error, it answers (413 with tooBig, or 400) and reports false.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, tooBig string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var over *http.MaxBytesError
	switch {
	case errors.As(err, &over):
		http.Error(w, tooBig, http.StatusRequestEntityTooLarge)
		return nil, false
	case err != nil:
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// refusePublisher answers 401 to a publish without the operator's
// credentials, naming the schemes that would be accepted.
func (g *Server) refusePublisher(w http.ResponseWriter) {
	if g.cfg.PublishToken != "" {
		w.Header().Add("WWW-Authenticate", `Bearer realm="wsgate"`)
	}
	if g.cfg.StatsAuth != "" {
		w.Header().Add("WWW-Authenticate", `Basic realm="wsgate"`)
	}
	http.Error(w, "missing or wrong credentials", http.StatusUnauthorized)
}
