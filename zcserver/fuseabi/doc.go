// Package fuseabi describes the classic FUSE wire protocol (the bytes that
// travel through /dev/fuse and, split into pieces, through a FUSE io_uring
// ring) as Go types whose memory layout equals the kernel's uapi structs on
// a little-endian 64-bit host.
//
// It promises: every struct has the exact size and field offsets of its
// counterpart in include/uapi/linux/fuse.h of Linux 7.3 (protocol 7.46), as
// listed in zcserver/fuseabi/linux73/ABI.md and checked by the package
// tests; constants keep the kernel spelling; every enum has a String method
// and every flag word has a bit-to-name table. It needs nothing from the
// running kernel: it is pure data and byte conversion.
//
// The ring-specific structs of 7.46 (fuse_uring_cmd_req and friends) live in
// the sub-package linux73.
package fuseabi
