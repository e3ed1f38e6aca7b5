// Package ringthread runs an io_uring instance on one OS thread that is
// locked for the instance's whole life, so that every SQE of the instance,
// FUSE uring_cmds included, is submitted from that thread (the kernel
// completes uring_cmds through task work of the submitting thread). It is
// the mechanism shared by the raw FUSE ring drivers kmbufring and ringtest.
//
// It promises: closures passed to Ring.Do run one at a time on the ring
// thread, and a panic in one comes back as an error; a Do whose context
// ends wakes the thread from any io_uring_enter wait and returns ErrStuck
// if the thread does not come back within a grace period; the thread is
// never unlocked and never reused, so credential changes made on it
// (Thread.SetCapSysAdmin) die with it; completions keep their errno and
// are never retried; memory from Ring.Alloc stays mapped until Close.
// CommandAs and AddQueueOnce are the two halves of issuing a FUSE command
// from another process running as another uid.
//
// It needs io_uring with IORING_REGISTER_SEND_MSG_RING (Linux 6.13 or
// later) to wake the ring thread from outside.
package ringthread
