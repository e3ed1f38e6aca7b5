package console

import "fmt"

// Kind is the class of a kernel report.
type Kind int

// The kinds of report the pattern table knows.
const (
	KindUnknown Kind = iota
	// KindWarning is a WARN()/WARN_ON() report: "WARNING: CPU: 0 PID: 1 at file:line func".
	KindWarning
	// KindBUG is "kernel BUG at file:line!" and the "BUG: ..." reports no
	// more specific kind claims (sleeping in atomic context, bad page state...).
	KindBUG
	// KindOops is a fault the kernel could not handle that is not a general
	// protection fault: NULL dereference, paging request, invalid opcode...
	KindOops
	// KindGPF is a general protection fault (often a non-canonical address).
	KindGPF
	// KindKASAN is a KASAN memory-error report.
	KindKASAN
	// KindKFENCE is a KFENCE memory-error report.
	KindKFENCE
	// KindUBSAN is an undefined-behaviour report.
	KindUBSAN
	// KindLockdep is a lockdep (lock validator) report.
	KindLockdep
	// KindHungTask is the hung-task detector's "blocked for more than N seconds".
	KindHungTask
	// KindRCUStall is an RCU CPU stall warning.
	KindRCUStall
	// KindSoftLockup is the soft-lockup watchdog's report.
	KindSoftLockup
	// KindHardLockup is the hard-lockup (NMI) watchdog's report.
	KindHardLockup
	// KindPanic is a "Kernel panic - not syncing" that no earlier report explains.
	KindPanic
	numKinds
)

// kindNames spells each Kind the way fixtures' .want files and reports do.
var kindNames = [numKinds]string{
	KindUnknown:    "unknown",
	KindWarning:    "WARNING",
	KindBUG:        "BUG",
	KindOops:       "Oops",
	KindGPF:        "GPF",
	KindKASAN:      "KASAN",
	KindKFENCE:     "KFENCE",
	KindUBSAN:      "UBSAN",
	KindLockdep:    "lockdep",
	KindHungTask:   "hung-task",
	KindRCUStall:   "rcu-stall",
	KindSoftLockup: "soft-lockup",
	KindHardLockup: "hard-lockup",
	KindPanic:      "panic",
}

func (k Kind) String() string {
	if k >= 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n == s {
			return Kind(k), nil
		}
	}
	return KindUnknown, fmt.Errorf("console: unknown report kind %q", s)
}
