package runner

import (
	"time"

	"github.com/zcsuite/zcsuite/harness/report"
)

// vmTimes is when one VM's guest reached each point of its run, as the
// host saw its events arrive (the collector fills it in).
type vmTimes struct {
	// hello and exited are the guest suite's hello and exit events.
	hello, exited time.Time
	// firstSpec and lastSpec are the first spec's start and the last
	// spec's end: the guest suite's own span.
	firstSpec, lastSpec time.Time
	// guestUptime is the kernel's own boot time at Ready (CLOCK_BOOTTIME).
	guestUptime time.Duration
}

// vmPhases are the report phases of one VM beyond its whole run (vm:):
// how it came to a guest waiting for its config (up, a boot: or resume:
// phase; zero when it never did), the boot split into QEMU's start and the
// kernel's own boot, then the guest suite, its specs, and the shutdown
// until QEMU exited at stopped.
func vmPhases(name string, up report.Phase, t vmTimes, stopped time.Time) []report.Phase {
	if up.Name == "" {
		return nil
	}
	out := []report.Phase{up}
	if up.Name == "boot:"+name && t.guestUptime > 0 && t.guestUptime < up.Duration {
		out = append(out,
			report.Phase{Name: "qemu-start:" + name, Duration: up.Duration - t.guestUptime, Note: "QEMU start, firmware and kernel load (boot: minus the kernel's uptime at Ready)"},
			report.Phase{Name: "kernel-boot:" + name, Duration: t.guestUptime, Note: "kernel start to the guest init waiting for its config (the guest's CLOCK_BOOTTIME)"})
	}
	if t.hello.IsZero() || t.exited.IsZero() {
		return out
	}
	out = append(out, report.Phase{Name: "suite:" + name, Duration: t.exited.Sub(t.hello), Note: "hello to the guest suite's exit"})
	if !t.firstSpec.IsZero() && !t.lastSpec.IsZero() {
		out = append(out, report.Phase{Name: "specs:" + name, Duration: t.lastSpec.Sub(t.firstSpec), Note: "first spec start to last spec end (the rest of suite: is the guest binary's start and exit)"})
	}
	return append(out, report.Phase{Name: "shutdown:" + name, Duration: stopped.Sub(t.exited), Note: "suite exit to QEMU exit (report, kernel log, power-off)"})
}
