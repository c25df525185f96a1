package codec

import (
	"testing"

	"github.com/gobwas/ws"
)

func TestFrameTracker(t *testing.T) {
	var stream []byte
	var boundaries []int
	for _, size := range []int{0, 5, 125, 126, 300, 70000} {
		stream = AppendFrame(stream, ws.OpBinary, make([]byte, size))
		boundaries = append(boundaries, len(stream))
	}
	masked := ws.MaskFrame(ws.NewTextFrame([]byte("hello")))
	frame, _ := ws.CompileFrame(masked)
	stream = append(stream, frame...)
	boundaries = append(boundaries, len(stream))
	isBoundary := map[int]bool{0: true}
	for _, b := range boundaries {
		isBoundary[b] = true
	}
	for _, step := range []int{1, 3, 1000, len(stream)} {
		var tr FrameTracker
		for pos := 0; pos < len(stream); {
			end := min(pos+step, len(stream))
			tr.Track(stream[pos:end])
			pos = end
			if got := tr.AtBoundary(); got != isBoundary[pos] {
				t.Fatalf("step %d: at %d AtBoundary=%v, want %v", step, pos, got, isBoundary[pos])
			}
		}
	}
}
