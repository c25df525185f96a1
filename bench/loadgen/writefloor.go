package loadgen

// WriteFloorResult is the cost of a bare loopback write(2) of one small
// frame: the floor under any gateway's CPU per delivery on this host.
type WriteFloorResult struct {
	Sockets        int     `json:"sockets"`
	FrameBytes     int     `json:"frame_bytes"`
	Writes         int64   `json:"writes"`
	CPUUsPerWrite  float64 `json:"cpu_us_per_write"` // writer thread user+sys
	UserUsPerWrite float64 `json:"user_us_per_write"`
	SysUsPerWrite  float64 `json:"sys_us_per_write"`
	WallUsPerWrite float64 `json:"wall_us_per_write"`
	// SinkUsPerWrite is what the rest of the process (the epoll sink reading
	// the frames) spent per write in the same window.
	SinkUsPerWrite float64 `json:"sink_cpu_us_per_write"`
	// Batched: BatchFrames frames in one write(2), as a gateway that
	// coalesces a subscriber's queue does; the cost per frame.
	BatchFrames        int     `json:"batch_frames"`
	BatchCPUUsPerFrame float64 `json:"batch_cpu_us_per_frame"`
}

// floorFrameBytes is the whole frame on the wire: a 2-byte server frame
// header and 62 bytes of payload.
const floorFrameBytes = 64
