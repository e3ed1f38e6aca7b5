// Package protocol turns FUSE requests into replies: decode, dispatch to the
// memfs tree, encode. It works on byte slices only and knows nothing about
// /dev/fuse or io_uring, so every transport shares the same handlers.
//
// Contract. A request arrives as three pieces — the 40-byte fuse_in_header,
// the op-in bytes (the opcode's first in-argument, e.g. fuse_read_in), and
// the payload (the remaining in-arguments: names, write data, forget arrays)
// — because a FUSE io_uring ring delivers them in different buffers (ABI
// doc §2.4). SplitDev cuts a contiguous /dev/fuse read into the same pieces.
// A reply is a Status for the out-header plus out-argument bytes written
// into a payload buffer the transport provides; Reply.PutOutHeader encodes
// the 16-byte fuse_out_header separately.
//
// READ and WRITE leave the data movement to the transport: Dispatch returns
// a pending Reply whose DataOp names the backing descriptor, offset and
// length (READ clamped to the file size). The transport either copies
// (DataOp.Copy: pread into / pwrite from the payload buffer) or moves the
// bytes itself with io_uring READ_FIXED/WRITE_FIXED against a registered
// zero-copy slot, then calls Finish. Serve does Dispatch+Copy+Finish for
// transports that always copy.
//
// Every opcode goes through one table, built once and checked by New.
// Lengths are checked before any conversion: a short or inconsistent
// request gets EIO and a Fault; an unknown or unimplemented opcode gets
// ENOSYS; a panicking handler is recovered into EIO and a Fault. The errno
// for the kernel is a Status (a positive errno, sent negated), never a Go
// error. The package needs nothing from the kernel beyond what memfs needs.
package protocol
