// Package coverage turns the gcov counters a -coverage run's VMs sent
// (runner.GcovDir) into reports: it promises per-file and per-function
// line and branch counts of the kernel sources asked for (fs/fuse/*.c,
// io_uring/*.c), merged over every VM, the hit count of each line a diff
// adds or changes, and the error returns (return -E…, = -E…, ERR_PTR(-E…)
// no VM reached. It needs Debian's lcov (geninfo, lcov, genhtml) and the
// gcov of the compiler that built the kernel on the host, the kernel's
// build directory (its .gcno files) and its source tree; it never writes
// into either.
package coverage
