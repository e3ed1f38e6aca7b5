// Package expect loads the known-kernel-issue expectations kept in
// fixtures/expectations/*.json and selects the ones that apply to a booted
// kernel, matched by its identity (image sha256, Debian package and
// version, or kernel release). A listed spec that fails the recorded way is
// KNOWN-FAIL; one that passes is FIXED and fails the run until the file is
// updated.
package expect
