// Package linux73ring is zcserver's Linux 7.3 FUSE-over-io_uring
// transport (zcserver/fuseabi/linux73/ABI.md; section numbers below refer
// to it), built on a FUSE connection (package fuseconn: its /dev/fuse
// descriptor and protocol.Handler) and on rawring's locked-thread
// executor: a Transport has one Driver per queue (qid = possible CPU,
// §1.2), each owning one io_uring ring (SQE128).
//
// It promises: every command of a ring is issued by that ring's one
// locked OS thread, so each entry's REGISTER and COMMITs stay on one ring
// (§7 H5), and the thread never touches the mount; Driver.Setup executes
// the one slot plan of package ringplan (a sparse buffer table, ADD_QUEUE
// when the kernel has the 7.46 ABI, ADD_BUFPOOL in pool modes, then the
// REGISTERs, §4.1); zero-copied data moves with READ_FIXED/WRITE_FIXED on
// the entry's slot; fault knobs act only through the knobs.Injector;
// every step method returns the command's CQE errno as a typed error, and
// nothing is retried behind the caller's back. Counters, EntLog, SetupLog
// and SlotProbes record what happened.
//
// It needs a kernel whose INIT offered FUSE_OVER_IO_URING
// (fuse.enable_uring=1), io_uring, and CAP_SYS_ADMIN for zero-copy queues
// (§4.a).
package linux73ring
