// Package ringplan is the one slot-layout planner of a Linux 7.3
// FUSE-over-io_uring queue (zcserver/fuseabi/linux73/ABI.md §4.1): which
// commands set a queue up, in which order, and which slots of the ring's
// fixed-buffer table they use. The server's automatic setup
// (linux73ring.Driver) and the specs' stepping API (ringtest.Layout) both
// execute its plans.
//
// It promises: a Plan is computed without any system call, so it can be
// checked on any host; the zero-copy slot of the queue's n-th entry is
// Input.ZCBase+n and a registered pool sits at Input.PoolSlot; a plan
// never puts a non-zero ent_zero_copy_buf_index on a queue without
// FUSE_URING_ZERO_COPY (EINVAL, §4.b) unless a knob asks for it. It needs
// nothing from the kernel.
package ringplan
