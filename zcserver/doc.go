// Package zcserver is zcsuite's FUSE server: an in-memory filesystem whose
// regular files live in memfds, served over /dev/fuse today and, in the next
// milestone, over a FUSE io_uring ring with buffer pools and zero copy
// (Linux 7.3, /work/shared/abi/upstream-7.3.md).
//
// Start mounts the filesystem, serves FUSE_INIT, records what the kernel
// offered (Server.Init), and keeps serving until Close. The server exposes
// counters (requests per opcode and per queue, bytes copied versus
// zero-copied, errors, faults) and a channel of fault events; a test that
// receives a fault should fail.
//
// It needs: Linux with FUSE, permission to open /dev/fuse and to mount
// (CAP_SYS_ADMIN; the fd-passing mount for an unprivileged server, via
// fusermount3 or a privileged helper, is a follow-up), and, for Close to
// abort a connection that is still in use, fusectl mounted at
// /sys/fs/fuse/connections. The server process must not access its own
// mount through Go's os package (the runtime poller sends FUSE requests that
// can deadlock); use raw unix calls or another process.
//
// Layout: fuseabi (wire structs), fuseabi/linux73 (7.3 ring ABI), memfs
// (the tree), protocol (decode → dispatch → encode, shared by every
// transport), uring (io_uring, owned separately), cmd/zcserver (a command
// for poking a kernel by hand).
package zcserver
