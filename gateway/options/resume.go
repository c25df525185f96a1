package options

import (
	"flag"

	"github.com/wsgate/wsgate/gateway"
)

// resumeFlags declares the lossless-resume flags (wsgate.v1, issue 15).
// -max-topics-per-conn (declared with the other limits) also bounds the
// topics of one wsgate.v1 socket.
func resumeFlags(fs *flag.FlagSet, c *gateway.Config) {
	fs.IntVar(&c.HistorySize, "history-size", 0, "messages of each topic kept in memory for wsgate.v1 clients that resume (0: off)")
	fs.DurationVar(&c.HistoryTTL, "history-ttl", 0, "history entries older than this are dropped, and an expired gap is not served (0: never)")
	fs.IntVar(&c.ResumeMaxMessages, "resume-max-messages", 10000, "a wsgate.v1 resume that missed more messages than this answers recovered:false (0: no limit)")
}
