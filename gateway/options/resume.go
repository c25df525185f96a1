package options

import (
	"flag"
	"time"

	"github.com/wsgate/wsgate/gateway"
)

// resumeFlags declares the lossless-resume flags (wsgate.v1, issue 15).
// -max-topics-per-conn (declared with the other limits) also bounds the
// topics of one wsgate.v1 socket.
func resumeFlags(fs *flag.FlagSet, c *gateway.Config) {
	fs.IntVar(&c.HistorySize, "history-size", 0, "messages of each topic kept in memory for wsgate.v1 clients that resume (0: off)")
	fs.Int64Var(&c.HistoryMaxBytes, "history-max-bytes", 64<<20, "`bytes` of history kept in memory for all topics together (payloads plus ~48 per message); above it the least recently published topics lose their oldest messages first (0: no bound but -history-size per topic)")
	fs.DurationVar(&c.HistoryTTL, "history-ttl", 0, "history entries older than this are dropped, and an expired gap is not served (0: never)")
	fs.IntVar(&c.ResumeFetches, "resume-kafka-fetches", 4, "with the Kafka bus, resumes older than the in-memory history are read back from Kafka, this many at once per node (the rest wait in a queue; 0: memory only)")
	fs.DurationVar(&c.ResumeFetchTime, "resume-kafka-timeout", 5*time.Second, "a resume read back from Kafka (queue wait included) taking longer answers recovered:false")
	fs.Int64Var(&c.ResumeRate, "resume-rate", 0, "`bytes` per second of recovered messages a node writes at most, on average: in a resume storm the rest wait their turn, their live messages buffered (0: as fast as the loops can)")
	fs.IntVar(&c.ResumeMaxMessages, "resume-max-messages", 10000, "a wsgate.v1 resume that missed more messages than this answers recovered:false (0: no limit)")
}
