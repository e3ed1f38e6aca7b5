// Package verdict decides, for every guest spec and for the run, the outcome
// a user sees. A spec's verdict is the worst of three independent inputs:
// the guest's own result, the kernel splats logged between the spec's start
// and end markers in /dev/kmsg, and how the VM ended (a panic or a hang is a
// verdict of its own, never folded into PASS or FAIL). Known kernel issues
// turn an expected failure into KNOWN-FAIL and an unexpected pass into
// FIXED. The run's exit code follows git bisect run: 0 good, 1 bad, 125
// untestable.
package verdict
