package gateway

import (
	"context"
	"net/http"

	"github.com/panjf2000/gnet/v2"

	"github.com/wsgate/wsgate/gateway/admin"
)

// adminHandler serves the admin listener (package admin) for this gateway.
func (g *Gateway) adminHandler() http.Handler {
	return admin.New(adminView{g}, admin.Options{
		Config: admin.Config{
			StatsURI:        g.cfg.StatsURI,
			StatsAuth:       g.cfg.StatsAuth,
			StatsTopics:     g.cfg.StatsTopics,
			PublishToken:    g.cfg.PublishToken,
			MaxMessageBytes: g.cfg.MaxMessageBytes,
		},
		Router:        g.router,
		Bus:           g.bus,
		PublishErrors: g.metrics.PublishErrors,
		Gatherer:      g.gatherer,
		Log:           g.log,
		Start:         g.start,
		TLS:           g.tlsStats,
	}).Handler()
}

// adminView is the gateway as the admin listener reads it (admin.Gateway).
type adminView struct{ g *Gateway }

func (v adminView) Counts() (connections, subscribers int64) { return v.g.open.Load(), v.g.subs.Load() }
func (v adminView) Draining() bool                           { return v.g.draining.Load() }
func (v adminView) Users(topN int) []admin.UserStats         { return v.g.auth.Users(topN) }
func (v adminView) MayPublish(r *http.Request, topic string) bool {
	return v.g.auth.MayPublish(r, topic)
}

// Topics asks every loop for its groups and merges them: subscribers add up;
// every loop with subscribers sees all of a topic's messages, so the count is
// the largest any loop saw.
func (v adminView) Topics(ctx context.Context) map[string]admin.TopicCount {
	loops := *v.g.loops.Load()
	results := make(chan map[string]admin.TopicCount, len(loops))
	asked := 0
	for _, l := range loops {
		err := l.el.Execute(ctx, gnet.RunnableFunc(func(context.Context) error {
			m := make(map[string]admin.TopicCount, l.topics.Topics())
			l.topics.Each(func(grp *topicGroup) {
				m[grp.Name()] = admin.TopicCount{Subscribers: grp.Len(), Messages: grp.Messages()}
			})
			l.v1Topics(m) // wsgate.v1 subscribers (v1.go)
			results <- m
			return nil
		}))
		if err == nil {
			asked++
		}
	}
	merged := map[string]admin.TopicCount{}
	for ; asked > 0; asked-- {
		select {
		case m := <-results:
			for name, p := range m {
				q := merged[name]
				q.Subscribers += p.Subscribers
				q.Messages = max(q.Messages, p.Messages)
				merged[name] = q
			}
		case <-ctx.Done():
			asked = 0
		}
	}
	return merged
}
