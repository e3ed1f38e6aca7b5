package vmevent

// BenchEntry is the Ginkgo report entry name under which a guest bench
// spec records one BenchSample as JSON.
const BenchEntry = "zcsuite-bench-sample"

// BenchSample is one fio job run against one zcserver mode.
type BenchSample struct {
	Mode  string  `json:"mode"`
	Job   string  `json:"job"` // e.g. "randread-direct"
	Round int     `json:"round"`
	MBps  float64 `json:"mbps"`
	// ServerCPUSec is the server's user+system CPU time during the job.
	ServerCPUSec float64 `json:"server_cpu_sec"`
	// Requests is the number of READ/WRITE requests the server handled.
	Requests uint64 `json:"requests"`
	// CopiedBytes are READ/WRITE payload bytes copied through the
	// server's memory; ZeroCopyBytes moved through zero-copy slots.
	CopiedBytes   uint64 `json:"copied_bytes"`
	ZeroCopyBytes uint64 `json:"zero_copy_bytes"`
}
