package fuseabi

import "strconv"

// Opcode is fuse_in_header.opcode (enum fuse_opcode in uapi fuse.h).
type Opcode uint32

// Opcodes of enum fuse_opcode, uapi fuse.h (Linux 7.3, protocol 7.46).
const (
	FUSE_LOOKUP             Opcode = 1
	FUSE_FORGET             Opcode = 2 // no reply
	FUSE_GETATTR            Opcode = 3
	FUSE_SETATTR            Opcode = 4
	FUSE_READLINK           Opcode = 5
	FUSE_SYMLINK            Opcode = 6
	FUSE_MKNOD              Opcode = 8
	FUSE_MKDIR              Opcode = 9
	FUSE_UNLINK             Opcode = 10
	FUSE_RMDIR              Opcode = 11
	FUSE_RENAME             Opcode = 12
	FUSE_LINK               Opcode = 13
	FUSE_OPEN               Opcode = 14
	FUSE_READ               Opcode = 15
	FUSE_WRITE              Opcode = 16
	FUSE_STATFS             Opcode = 17
	FUSE_RELEASE            Opcode = 18
	FUSE_FSYNC              Opcode = 20
	FUSE_SETXATTR           Opcode = 21
	FUSE_GETXATTR           Opcode = 22
	FUSE_LISTXATTR          Opcode = 23
	FUSE_REMOVEXATTR        Opcode = 24
	FUSE_FLUSH              Opcode = 25
	FUSE_INIT               Opcode = 26
	FUSE_OPENDIR            Opcode = 27
	FUSE_READDIR            Opcode = 28
	FUSE_RELEASEDIR         Opcode = 29
	FUSE_FSYNCDIR           Opcode = 30
	FUSE_GETLK              Opcode = 31
	FUSE_SETLK              Opcode = 32
	FUSE_SETLKW             Opcode = 33
	FUSE_ACCESS             Opcode = 34
	FUSE_CREATE             Opcode = 35
	FUSE_INTERRUPT          Opcode = 36 // no reply
	FUSE_BMAP               Opcode = 37
	FUSE_DESTROY            Opcode = 38
	FUSE_IOCTL              Opcode = 39
	FUSE_POLL               Opcode = 40
	FUSE_NOTIFY_REPLY       Opcode = 41 // no reply
	FUSE_BATCH_FORGET       Opcode = 42 // no reply
	FUSE_FALLOCATE          Opcode = 43
	FUSE_READDIRPLUS        Opcode = 44
	FUSE_RENAME2            Opcode = 45
	FUSE_LSEEK              Opcode = 46
	FUSE_COPY_FILE_RANGE    Opcode = 47
	FUSE_SETUPMAPPING       Opcode = 48
	FUSE_REMOVEMAPPING      Opcode = 49
	FUSE_SYNCFS             Opcode = 50
	FUSE_TMPFILE            Opcode = 51
	FUSE_STATX              Opcode = 52
	FUSE_COPY_FILE_RANGE_64 Opcode = 53 // protocol 7.45, ABI doc §1.4

	CUSE_INIT Opcode = 4096
)

// OpcodeSlots bounds the dense opcode range 0..FUSE_COPY_FILE_RANGE_64; it
// sizes per-opcode tables and counters. Opcodes at or above it (CUSE_INIT,
// garbage) are counted as "other".
const OpcodeSlots = int(FUSE_COPY_FILE_RANGE_64) + 1

var opcodeNames = map[Opcode]string{
	FUSE_LOOKUP:             "FUSE_LOOKUP",
	FUSE_FORGET:             "FUSE_FORGET",
	FUSE_GETATTR:            "FUSE_GETATTR",
	FUSE_SETATTR:            "FUSE_SETATTR",
	FUSE_READLINK:           "FUSE_READLINK",
	FUSE_SYMLINK:            "FUSE_SYMLINK",
	FUSE_MKNOD:              "FUSE_MKNOD",
	FUSE_MKDIR:              "FUSE_MKDIR",
	FUSE_UNLINK:             "FUSE_UNLINK",
	FUSE_RMDIR:              "FUSE_RMDIR",
	FUSE_RENAME:             "FUSE_RENAME",
	FUSE_LINK:               "FUSE_LINK",
	FUSE_OPEN:               "FUSE_OPEN",
	FUSE_READ:               "FUSE_READ",
	FUSE_WRITE:              "FUSE_WRITE",
	FUSE_STATFS:             "FUSE_STATFS",
	FUSE_RELEASE:            "FUSE_RELEASE",
	FUSE_FSYNC:              "FUSE_FSYNC",
	FUSE_SETXATTR:           "FUSE_SETXATTR",
	FUSE_GETXATTR:           "FUSE_GETXATTR",
	FUSE_LISTXATTR:          "FUSE_LISTXATTR",
	FUSE_REMOVEXATTR:        "FUSE_REMOVEXATTR",
	FUSE_FLUSH:              "FUSE_FLUSH",
	FUSE_INIT:               "FUSE_INIT",
	FUSE_OPENDIR:            "FUSE_OPENDIR",
	FUSE_READDIR:            "FUSE_READDIR",
	FUSE_RELEASEDIR:         "FUSE_RELEASEDIR",
	FUSE_FSYNCDIR:           "FUSE_FSYNCDIR",
	FUSE_GETLK:              "FUSE_GETLK",
	FUSE_SETLK:              "FUSE_SETLK",
	FUSE_SETLKW:             "FUSE_SETLKW",
	FUSE_ACCESS:             "FUSE_ACCESS",
	FUSE_CREATE:             "FUSE_CREATE",
	FUSE_INTERRUPT:          "FUSE_INTERRUPT",
	FUSE_BMAP:               "FUSE_BMAP",
	FUSE_DESTROY:            "FUSE_DESTROY",
	FUSE_IOCTL:              "FUSE_IOCTL",
	FUSE_POLL:               "FUSE_POLL",
	FUSE_NOTIFY_REPLY:       "FUSE_NOTIFY_REPLY",
	FUSE_BATCH_FORGET:       "FUSE_BATCH_FORGET",
	FUSE_FALLOCATE:          "FUSE_FALLOCATE",
	FUSE_READDIRPLUS:        "FUSE_READDIRPLUS",
	FUSE_RENAME2:            "FUSE_RENAME2",
	FUSE_LSEEK:              "FUSE_LSEEK",
	FUSE_COPY_FILE_RANGE:    "FUSE_COPY_FILE_RANGE",
	FUSE_SETUPMAPPING:       "FUSE_SETUPMAPPING",
	FUSE_REMOVEMAPPING:      "FUSE_REMOVEMAPPING",
	FUSE_SYNCFS:             "FUSE_SYNCFS",
	FUSE_TMPFILE:            "FUSE_TMPFILE",
	FUSE_STATX:              "FUSE_STATX",
	FUSE_COPY_FILE_RANGE_64: "FUSE_COPY_FILE_RANGE_64",
	CUSE_INIT:               "CUSE_INIT",
}

// Known reports whether op is an opcode of enum fuse_opcode.
func (op Opcode) Known() bool {
	_, ok := opcodeNames[op]
	return ok
}

// String returns the kernel name of op, or "Opcode(N)" for an unknown value.
func (op Opcode) String() string {
	if n, ok := opcodeNames[op]; ok {
		return n
	}
	return "Opcode(" + strconv.FormatUint(uint64(op), 10) + ")"
}
