// Package rawring is the raw FUSE-over-io_uring ring layer under the
// stepping API of the specs (ringtest), the kmbuf series' transport
// (kmbufring) and the server's Linux 7.3 transport (linux73ring.Driver,
// which runs its own CQE router and entry states on this executor's
// thread, not Machine).
//
// It promises: an io_uring instance runs on one OS thread that is locked
// for the instance's whole life (Start), so every SQE of the instance,
// FUSE uring_cmds included, is submitted from that thread (the kernel
// completes a uring_cmd through task work of the thread that submitted
// it), and the thread never touches a FUSE mount; closures passed to
// Ring.Do run one at a time on that thread, and a panic in one comes back
// as an error; a Do whose context ends wakes the thread from any
// io_uring_enter wait and returns ErrStuck if the thread does not come
// back within a grace period; the thread is never unlocked and never
// reused, so credential changes made on it (Thread.SetCapSysAdmin) die
// with it; completions keep their errno and are never retried; memory from
// Ring.Alloc stays mapped until Close.
//
// On top of the executor, Machine is the one entry state machine of a
// ring (Register, Next, Answer, CommitWith, ServeUntil; Ring.Serve ends a
// serving loop and clears its stop, so a later Next waits as usual). What
// differs between ABIs sits behind the small ABI interface, implemented
// by ringtest (Linux 7.3, zcserver/fuseabi/linux73/ABI.md) and kmbufring
// (the kmbuf series, zcserver/fuseabi/kmbuf/ABI.md).
//
// Beside it: one capability helper (SetThreadCap, ThreadCapEff), one
// re-exec child protocol (AddQueueAs and RunChild, for ADD_QUEUE as
// another uid; CommandAs for other children), and PossibleCPUs, the
// number of FUSE queues of every connection.
//
// It needs io_uring with IORING_REGISTER_SEND_MSG_RING (Linux 6.13 or
// later) to wake the ring thread from outside.
package rawring
