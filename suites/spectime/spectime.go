// Package spectime holds the guest specs' time bounds, which the host
// also plans with: each VM's deadline is derived from them (see
// harness/runner), so that a kernel that leaves a request unanswered is
// bounded by the spec that waits on it, not by a fixed run deadline.
package spectime

import "time"

const (
	// Edge bounds an edge-case or fault-knob spec: a few ring commands,
	// under a second under TCG on a quiet machine (fixtures/timings); the
	// slowest of 127 took 1.9 s in a full run on Debian 7.3 at a load of
	// 12-14 on 2 cores (integrity's slowest 4.0 s).
	Edge = 45 * time.Second
	// Max bounds every other spec (integrity workloads, ABI probes), and
	// so the longest any spec may run, the benchmark aside.
	Max = 90 * time.Second
	// Grace is Ginkgo's grace period after a spec's timeout (the guest
	// init passes --ginkgo.grace-period): a node that ignores its
	// context is abandoned then.
	Grace = 10 * time.Second
)
