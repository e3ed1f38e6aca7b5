// Package kmbufring is zcserver's transport for the out-of-tree kmbuf
// zero-copy series (zcserver/fuseabi/kmbuf/ABI.md): FUSE-over-io_uring
// queues whose payloads travel in a kernel-managed buffer ring, whose
// headers sit in a registered fixed buffer, and whose READ/WRITE pages are
// installed by the kernel in the fixed-buffer table and moved with
// READ_FIXED/WRITE_FIXED. It is built beside the Linux 7.3 ring transport
// (package linux73ring) and shares everything but the ring: the mount,
// INIT and /dev/fuse serving come from a FUSE connection (fuseconn.Conn,
// that of a zcserver.Server started with Config.RingInit), and requests
// are answered by its protocol.Handler, so the copy and zero-copy paths
// share every handler.
//
// It promises: one io_uring instance per queue (the kernel pins the kmbuf
// ring of the instance that carried a queue's first REGISTER, so a second
// queue on the same instance gets EALREADY, ABI doc §2.4), driven by one
// OS thread that is locked for the Ring's life, issues every SQE of that
// instance (REGISTER, COMMIT_AND_FETCH and the fixed I/O of its entries,
// §4 step 7) and never touches the mount; commands are built by a
// kmbuf.Profile, so the REGISTER layout (v2 bools or v3/v4 flags) is the
// one chosen for the kernel under test; the payload buffer of an entry is
// the one named by the last CQE that carried IORING_CQE_F_BUFFER (§2.4);
// errors keep their errno; nothing is retried or hidden, so specs see what
// the kernel answered. Step methods let a spec build a queue, send raw
// command bytes, hold a request and commit it with values of its choosing.
//
// It needs a kernel with the series (detect it first: features.HaveKmbufRing
// and ProbeRevision), fuse.enable_uring=1, io_uring with
// IORING_REGISTER_SEND_MSG_RING (6.13 or later, to wake a ring thread), and
// CAP_SYS_ADMIN for zero-copy queues.
package kmbufring
