// Package uring gives one goroutine exact, allocation-free control of an
// io_uring instance — zeroed SQEs (64 or 128 bytes), copied CQEs, and
// fixed-buffer, fixed-file and personality registration — using only raw
// syscalls through golang.org/x/sys/unix, and needs a Linux kernel with
// io_uring enabled (5.19 or later for SQE128, CQE32 and sparse buffer
// tables; 6.19 or later for IORING_SETUP_SQE_MIXED).
//
// # Contract
//
//   - NextSQE zeroes the whole slot (64 bytes, or 128 including the
//     80-byte command area) before returning it, so nothing from an earlier
//     use (buf_index, personality, flags, cmd bytes) reaches the kernel.
//     Callers set fields afterwards, directly or through the Prep methods.
//   - The submit path (NextSQE, Prep*, Submit) and the completion path
//     (PeekCQE, WaitCQE) do not allocate on success.
//   - A negative CQE res becomes a *CQEError that names the user_data and
//     unwraps to the unix.Errno. Every syscall wrapper retries EINTR and
//     nothing else; other errnos are returned wrapped with %w, and
//     io_uring_register errors name the opcode
//     ("register BUFFERS_UPDATE: invalid argument").
//   - Memory handed to the kernel stays reachable for as long as the kernel
//     may use it: iovec and argument arrays until the syscall returns,
//     registered buffers until Close. Buffers given to PrepRead/PrepWrite
//     are the caller's to keep alive until their CQE.
//
// # Threading
//
// A Ring has no locks: one goroutine at a time owns it. uring_cmd requests
// (IORING_OP_URING_CMD, e.g. FUSE_IO_URING_CMD_*) complete through task
// work queued to the OS thread that submitted them, and rings created with
// IORING_SETUP_SINGLE_ISSUER accept submissions only from the thread that
// created them. A goroutine that owns such a ring must therefore call
// runtime.LockOSThread before New and keep it locked for the ring's life;
// it must also never touch the FUSE mount it serves.
//
// # Ring layout
//
// New maps the rings once (one mapping with IORING_FEAT_SINGLE_MMAP, two
// otherwise) plus the SQE array. The SQ index array, when present (no
// IORING_SETUP_NO_SQARRAY), is the identity. The SQ tail and CQ head are
// published with atomic stores, the SQ head and CQ tail read with atomic
// loads. On an IORING_SETUP_SQE_MIXED ring, NextSQE128 takes two slots and
// pads the ring's last slot with a CQE-less NOP when a 128-byte SQE would
// wrap; on an IORING_SETUP_CQE_MIXED ring, filler CQEs are skipped and
// 32-byte ones fill CQE.Big.
//
// (*SQE).Cmd finds the ring an SQE belongs to through a process-wide,
// lock-free table of SQE mappings, so it can return nil for a 64-byte slot.
//
// Constants keep their kernel spelling and values from
// include/uapi/linux/io_uring.h (see zcserver/fuseabi/linux73/ABI.md §2.1,
// §4.1, §4.4); Op, RegisterOp, SetupFlags, FeatureFlags and SQEFlags print
// them by name.
package uring
