// Package uringtest is test support for packages that drive io_uring: a
// TestMain wrapper that fails the run when file descriptors leak, and a
// kernel-version reader used to decide whether a missing feature is a skip
// or a failure. Only tests import it.
package uringtest
