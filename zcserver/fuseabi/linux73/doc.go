// Package linux73 describes the FUSE-over-io_uring ABI of Linux 7.3
// (protocol 7.46): the uring_cmd opcodes, struct fuse_uring_cmd_req that sits
// in an SQE128's command area, and the 288-byte per-entry header buffer
// (struct fuse_uring_req_header with struct fuse_uring_ent_in_out).
//
// It promises the exact sizes and offsets of zcserver/fuseabi/linux73/ABI.md
// §2.3 and §2.4 (pinned by the package tests), kernel spelling for constants,
// and encoders that leave every unused byte of the 80-byte command area zero.
// Command is the one way to write a whole command SQE (the server's ring
// driver, ringtest and rawring's re-exec child use it); Put only fills an
// SQE of a uring.Ring, and submitting stays with the caller. It issues no
// system calls of its own; it needs a kernel with CONFIG_FUSE_IO_URING and
// fuse.enable_uring=1 only when the bytes are actually submitted.
//
// The 7.2 kernel reads only the first 24 bytes of the command (ABI doc §6);
// callers targeting 7.2 must leave the union zero.
package linux73
