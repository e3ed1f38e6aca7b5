package verdict

// VMFailure returns the failure that belongs to the VM itself and that no
// spec's verdict carries, so that a report which lists specs can show it
// beside them: the VM could not be tested (Untested), a kernel splat outside
// every spec, the guest's stream ending without its done event after the
// last spec had ended, or a guest suite exit code that no spec explains.
// ok is false when the run's outcome is fully told by its specs.
func (r *Run) VMFailure() (o Outcome, reason string, ok bool) {
	switch {
	case r == nil:
		return "", "", false
	case r.Outcome == Untested:
		return Untested, r.Reason, true
	case !r.Outcome.Bad():
		return "", "", false
	case len(r.Outside) > 0:
		return r.Outcome, r.Reason, true
	}
	for _, s := range r.Specs {
		if s.Outcome.Bad() {
			return "", "", false
		}
	}
	return r.Outcome, r.Reason, true
}
