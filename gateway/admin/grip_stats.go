package admin

import (
	"strings"
)

// GripStats is the stats page's GRIP line: backend-driven sessions
// (gateway/grip.go), read from the wsgate_grip_* metrics so that the page
// and /metrics never disagree.
type GripStats struct {
	Attached      int64            `json:"attached"`
	Detached      int64            `json:"detached"`
	Subscriptions int64            `json:"subscriptions"`
	Dropped       int64            `json:"dropped_messages"`
	Discarded     int64            `json:"client_messages_discarded"`
	Ignored       int64            `json:"subscribes_ignored"`
	Control       map[string]int64 `json:"control_messages"`
}

// gripStats reads the GRIP figures; nil when there has been no GRIP session.
func (g *Server) gripStats() *GripStats {
	fams, err := g.gatherer.Gather()
	if err != nil {
		return nil
	}
	st := &GripStats{Control: map[string]int64{}}
	seen := false
	for _, f := range fams {
		name := f.GetName()
		if !strings.HasPrefix(name, "wsgate_grip_") {
			continue
		}
		for _, m := range f.GetMetric() {
			v := int64(m.GetGauge().GetValue() + m.GetCounter().GetValue())
			label := ""
			if len(m.GetLabel()) > 0 {
				label = m.GetLabel()[0].GetValue()
			}
			seen = seen || v != 0
			switch name {
			case "wsgate_grip_sessions":
				if label == "attached" {
					st.Attached = v
				} else {
					st.Detached = v
				}
			case "wsgate_grip_subscriptions":
				st.Subscriptions = v
			case "wsgate_grip_dropped_messages_total":
				st.Dropped = v
			case "wsgate_grip_client_messages_discarded_total":
				st.Discarded = v
			case "wsgate_grip_subscribes_ignored_total":
				st.Ignored += v
			case "wsgate_grip_control_messages_total":
				st.Control[label] = v
			}
		}
	}
	if !seen {
		return nil
	}
	return st
}
