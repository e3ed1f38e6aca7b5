// Package zcserver is zcsuite's FUSE server: an in-memory filesystem whose
// regular files live in memfds (or O_TMPFILE files of a backing directory),
// served over /dev/fuse or over FUSE-over-io_uring rings with per-entry
// buffers, buffer pools (plain or io_uring-registered) and zero copy, as
// the Linux 7.3 ABI specifies (zcserver/fuseabi/linux73/ABI.md; section
// numbers below refer to it).
//
// Start mounts the filesystem, serves FUSE_INIT over /dev/fuse, records
// what the kernel offered (Server.Init) and, in a ring mode, sets the ring
// up before it returns; it keeps serving until Close. A kernel lacking what
// the mode needs makes Start fail with an error matching
// features.ErrNotSupported; a command the kernel refuses during the setup
// gives an error matching ErrRingSetup and the command's errno.
//
// # Ring transport
//
// Every connection has one queue per possible CPU (§1.2). Each queue gets
// its own io_uring ring (SQE128) driven by a RingDriver (package
// linux73ring): one goroutine that locks its OS thread before creating
// the ring, never unlocks it, issues every command of that ring (so each
// entry's REGISTER and COMMITs stay on one ring, §7 H5), moves zero-copied
// data with READ_FIXED/WRITE_FIXED on the entry's slot, and never touches
// the mount. The automatic setup per queue (§4.1) is: a sparse buffer
// table (one zero-copy slot per entry, then the pool's slot) when the mode
// needs slots; ADD_QUEUE when the kernel has the 7.46 ABI
// (FUSE_URING_ZERO_COPY in ModeRingZeroCopy); ADD_BUFPOOL in pool modes
// (FIXED with the pool's slot when registered); then Config.QueueDepth
// REGISTERs. /dev/fuse keeps being served for FORGET, INTERRUPT and
// requests queued before the ring was ready.
//
// Specs can step through the ring themselves: with Config.ManualRing,
// Server.Ring(qid) returns a driver on which AddQueue, AddBufpool, Register
// (immediate error CQE versus accepted), Setup, Serve, Await/Answer,
// ProbeSlot, capability and personality changes all run on the ring's own
// thread and return the CQE errno as a typed error.
//
// # Observing and breaking
//
// Counters has requests per opcode and per queue, requests delivered with
// FUSE_URING_ENT_ZERO_COPY, bytes moved zero-copy versus copied, errors and
// faults; EntLog keeps what the kernel wrote into ring_ent_in_out for each
// delivered request and what the server committed; SetupLog lists every
// ring command and its result. FaultKnobs break the protocol on purpose
// (credentials, indexes, inconsistent flags, payload_sz, error replies,
// held requests, slot probes); they act at one seam, a knobs.Injector
// that both transports ask. ForeignAddQueue runs ADD_QUEUE as another uid
// in a child process. A fault event (Faults) means the server or the
// kernel misbehaved; a test that receives one should fail.
//
// It needs: Linux with FUSE, permission to open /dev/fuse and to mount
// (CAP_SYS_ADMIN) unless a privileged mounter passes it a mounted
// descriptor (MountFD, SendFD, ReceiveFD, Config.DevFD: the server then
// neither mounts nor unmounts), fuse.enable_uring=1 before the mount for
// ring modes,
// CAP_SYS_ADMIN for ModeRingZeroCopy, and, for Close to abort a connection
// that is still in use, fusectl mounted at /sys/fs/fuse/connections. The
// server process must not access its own mount through Go's os package
// (the runtime poller sends FUSE requests that can deadlock); use raw unix
// calls from a locked thread, or another process.
//
// # Layout
//
// The packages, each importing only those below it (an arrow points at
// what a package imports; memfs and uring import no other zcserver
// package):
//
//	cmd/zcserver ──▶ zcserver (this package, a thin front: Config, mode →
//	                 │          transport, counters, Start/Server; the
//	                 │          transports' types under their old names)
//	                 ├──▶ linux73ring  the Linux 7.3 ring transport: one
//	                 │                 RingDriver per queue, its setup,
//	                 │                 serving, stepping, EntLog, SetupLog,
//	                 │                 ring counters, foreign ADD_QUEUE
//	                 │                 (fuseconn, knobs, rawring, ringplan,
//	                 │                 features, protocol, fuseabi, uring)
//	kmbufring ───────┤ (the kmbuf series' transport; uses fuseconn's Conn)
//	                 ├──▶ fuseconn     the FUSE connection: mount or passed
//	                 │                 descriptor, fd passing, INIT,
//	                 │                 /dev/fuse readers, end (unmount,
//	                 │                 fusectl abort), per-queue counters
//	                 │                 (knobs, protocol, fuseabi)
//	                 ├──▶ knobs        the fault knobs and the one seam
//	                 │                 (Injector) where both transports
//	                 │                 apply them (ringplan, protocol,
//	                 │                 fuseabi)
//	ringtest ────────┤ (the specs' stepping API for the Linux 7.3 ring)
//	                 ▼
//	rawring      locked-thread executor, entry state machine, capabilities,
//	             re-exec child, PossibleCPUs (protocol, fuseabi,
//	             fuseabi/linux73, uring)
//	ringplan     the one slot-layout planner of a 7.3 queue's setup, used
//	             by linux73ring and ringtest (fuseabi/linux73)
//	features     kernel feature probes (fuseabi, fuseabi/kmbuf, uring)
//	protocol     decode → dispatch → encode, shared by every transport
//	             (fuseabi, fuseabi/linux73, memfs)
//	memfs        the tree
//	fuseabi      wire structs, INIT record; fuseabi/linux73 (7.3 ring ABI;
//	             Command, the one writer of its command SQEs) and
//	             fuseabi/kmbuf (the kmbuf series), each using uring for
//	             its SQEs
//	uring        io_uring
//
// cmd/zcserver is a command for poking a kernel by hand; see its doc for
// -mode and -depth.
package zcserver
