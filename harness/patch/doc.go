// Package patch prepares a kernel tree with patches on top, as a kernel
// developer receives them: diffs (git apply, one commit each) or a mailed
// series (git am, the mbox `b4 am` writes), applied onto a copy of a base
// tree kept in the cache. The base tree — the user's checkout or the
// cache's pristine Debian source — is only read: its content is
// snapshotted into a private git repository beside the copy (a git base
// with its uncommitted changes and without what its .gitignore ignores),
// and the copy is a worktree of that snapshot, reused from run to run so
// builds stay incremental. The same base and the same patch files give the
// same commits and leave the copy as it is. It needs git; it boots and
// builds nothing.
package patch
