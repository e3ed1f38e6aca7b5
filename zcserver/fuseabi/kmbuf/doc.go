// Package kmbuf describes the userspace ABI of the out-of-tree series
// "fuse/io-uring: add kernel-managed buffer rings and zero-copy" (v2 of
// 2025-12-18, v3 of 2025-12-22, v4 of 2026-01-16), as specified in
// zcserver/fuseabi/kmbuf/ABI.md: the io_uring additions
// (IORING_REGISTER_KMBUF_RING, the kmbuf mmap offset, the union in
// struct io_uring_buf_reg), the 24-byte struct fuse_uring_cmd_req in its two
// layouts (v2: two C bools at bytes 18 and 19; v3/v4: a u16 flags word), the
// 288-byte header slot, and the index arithmetic of the fixed-buffer table.
//
// It promises the exact sizes and offsets of the ABI document (pinned by the
// package tests, including byte-for-byte golden images of every command and
// SQE for v2 and v3), kernel spelling for constants, the same Go names as
// package linux73 where a concept is the same (CmdReq*, ReqHeader,
// EntInOut, EncodeCmd), a type whose name carries the revision where a
// layout differs (CmdReqV2, CmdReqV3), and builders that leave every unused
// byte of a 128-byte SQE and of its 80-byte command area zero. A Profile
// holds what differs between revisions without changing a layout.
//
// It issues no system calls and needs nothing from the running kernel. The
// bytes it builds mean something only to a kernel carrying the series; on
// mainline kernels io_uring_register opcode 37 is IORING_REGISTER_BPF_FILTER
// (7.2 and later), so callers must detect the series before using
// IORING_REGISTER_KMBUF_RING (see package features).
package kmbuf
