// Package ringtest drives a FUSE io_uring ring one raw command at a time so
// that specs can provoke and observe the edge cases of the Linux 7.3 ring
// ABI (zcserver/fuseabi/linux73/ABI.md §3, §4, §4.a–4.f, §7). It is test
// support: only specs import it.
//
// It promises: every uring_cmd of a Ring is submitted from one OS thread
// that is locked for the Ring's whole life and never touches a FUSE mount
// (the kernel completes uring_cmds through task work on the submitting
// thread, and a thread serving its own mount can deadlock); the thread's
// credentials can be changed for one spec (SetCapSysAdmin) and the thread
// is discarded, never reused, when the Ring closes; CQE errors keep their
// errno (errors.Is(err, unix.EPERM)); nothing is retried or hidden, so a
// spec sees exactly what the kernel answered. Requests are answered with a
// zcserver protocol.Handler, copying or moving data with READ_FIXED /
// WRITE_FIXED on the entry's zero-copy slot, and a spec can stop at any
// request to commit it with values of its choosing.
//
// It needs a kernel with io_uring (IORING_REGISTER_SEND_MSG_RING, 6.13 or
// later, wakes the ring thread) and, for the commands to do anything, a
// /dev/fuse connection whose INIT reply asked for FUSE_OVER_IO_URING
// (zcserver.Config.RingInit). ADD_QUEUE, ADD_BUFPOOL and zero copy need the
// 7.46 protocol (Linux 7.3); per-entry rings also work on 7.2.
package ringtest
