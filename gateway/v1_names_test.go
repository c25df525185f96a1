package gateway

import "github.com/wsgate/wsgate/gateway/resume"

// The names v1_test.go knew the encoders by before they moved to
// gateway/resume: its tests run unchanged against the moved code.
var (
	appendEnvelope       = resume.AppendEnvelope
	appendSubscribeReply = resume.AppendSubscribeReply
)

func (m *message) envelope(js *[]byte) []byte { return m.Envelope(js) }
