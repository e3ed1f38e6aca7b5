// Package labels holds every Ginkgo label zcsuite's specs use, so a filter
// and a spec can never disagree on a spelling. It has no behaviour.
package labels

// Families of kernel-facing specs; a spec carries exactly one.
const (
	Env          = "env"
	Init         = "init"
	Integrity    = "integrity"
	CapGate      = "cap-gate"
	QueueDepth   = "queue-depth"
	MixedFlags   = "mixed-flags"
	HeaderOffset = "header-offset"
	PayloadSz    = "payload-sz"
	Unregister   = "unregister"
)

// ABI profiles.
const (
	ABIUpstream = "abi-upstream"
	ABIKmbuf    = "abi-kmbuf"
)

// Modifiers.
const (
	// Destructive specs may crash the kernel; each runs in its own VM after
	// the others.
	Destructive = "destructive"
	Bench       = "bench"
	Slow        = "slow"
)

// SuiteDescription is the guest suite's RunSpecs description. Ginkgo
// matches focus regexps against it followed by the spec's full text.
const SuiteDescription = "zcsuite guest"

// Families lists the edge-case families the reports count.
var Families = []string{CapGate, QueueDepth, MixedFlags, HeaderOffset, PayloadSz, Unregister}
