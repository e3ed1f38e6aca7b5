// Package series tests kernels the way a kernel developer bisects them: it
// judges one kernel (tested one or more times) good, bad or skip with the
// exit codes `git bisect run` understands (0, 1, 125), optionally counting
// only the bad outcomes whose spec name or splat title matches a signature,
// and it walks a git range commit by commit (each commit checked out in a
// dedicated worktree in the cache, so the user's checkout is never touched),
// building and testing each, into a table written as series.md and
// series.json. It needs git for ranges; building and testing are the
// caller's functions, so the package itself boots nothing.
//
// The rules (Judge):
//   - an attempt that could not test the kernel (build, configuration, boot
//     or infrastructure failure, or a VM in which nothing could be tested)
//     is skip, unless another VM of the attempt was bad;
//   - without a signature, any bad verdict (FAIL, FIXED, HANG, PANIC,
//     CRASH, a splat outside every spec) makes the attempt bad;
//   - with a signature, only bad specs whose full name or one of whose
//     splat titles match it, and matching splats outside every spec, make
//     the attempt bad; other bad outcomes are reported as ignored and the
//     attempt is good; but when nothing matched and a VM died early (a
//     panic, crash or hang, or an untestable VM) without a spec matching the
//     signature having passed, or every matching spec was skipped, the
//     signature could not be observed and the attempt is skip;
//   - of repeated attempts, the first bad one makes the kernel bad;
//     otherwise any skip makes it skip; otherwise it is good.
package series
