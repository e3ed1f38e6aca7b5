package runner

import (
	"fmt"
	"time"

	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// sayEnd puts on the screen how a VM ended when it did not end well: a
// deadline (with the spec that was running and how many never ran), or a
// lost done event.
func (r *runState) sayEnd(j vmJob, vr *report.VMRun) {
	v := vr.Verdict
	if v == nil {
		return
	}
	notRun, running := 0, ""
	for _, s := range v.Specs {
		switch s.Outcome {
		case verdict.NotRun:
			notRun++
		case verdict.Hang, verdict.Crash, verdict.Panic:
			running = s.Name
		}
	}
	switch {
	case vr.End.Interrupted != "":
		r.logf("VM %s stopped: %s; %d of its specs did not run", j.name, vr.End.Interrupted, notRun)
	case vr.End.HitDeadline():
		r.logf("VM %s hit its deadline (%s of the run's -timeout %s)%s; %d of its specs never ran (NOT-RUN in every report)", j.name, vr.End.Deadline.Round(time.Second), r.c.Timeout, runningNote(running), notRun)
	case v.GuestStarted && !vr.End.SawDone && vmFailed(v):
		r.logf("VM %s ended without the guest's done event (QEMU exit %d%s)%s; %d of its specs never ran", j.name, vr.End.QEMUExit, eventErrNote(vr.End.EventErr), runningNote(running), notRun)
	}
}

// vmFailed reports whether the VM failed by itself, beyond what its specs'
// verdicts say (a kernel panic a spec declared or a known issue explains
// is not such a failure).
func vmFailed(v *verdict.Run) bool {
	_, _, failed := v.VMFailure()
	return failed
}

func eventErrNote(e string) string {
	if e == "" {
		return ""
	}
	return ", event stream: " + e
}

func runningNote(spec string) string {
	if spec == "" {
		return " between specs"
	}
	return fmt.Sprintf(" while %q was running", spec)
}
