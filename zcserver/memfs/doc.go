// Package memfs is the file tree zcserver serves: directories and regular
// files kept in memory, with each regular file's bytes in its own backing
// file descriptor so that a transport can move data with positional I/O or
// with io_uring fixed-buffer reads and writes against that descriptor.
//
// It promises FUSE node semantics: node IDs are never reused during the
// life of an FS (generation stays 1), lookup counts follow LOOKUP/CREATE/
// MKDIR/MKNOD/READDIRPLUS minus FORGET, and an unlinked node lives until it
// is neither linked, looked up nor open. Directory offsets are stable
// cookies, so a READDIR continuing from an offset never repeats or skips an
// entry that stayed in place. All methods are safe for concurrent use.
// Errors are unix.Errno values (possibly wrapped), ready to become a FUSE
// reply status.
//
// It needs Linux memfd_create(2), or, with Options.BackingDir, a directory
// whose filesystem supports O_TMPFILE (tmpfs does) or at least create and
// unlink.
package memfs
