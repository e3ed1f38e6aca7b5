package fuseabi

import (
	"strconv"
	"strings"
)

// Protocol version numbers (uapi fuse.h). FUSE_KERNEL_MINOR_VERSION is the
// minor this package describes: 46 is Linux 7.3 (ABI doc §1.2, §1.4); Linux
// 7.2 sends 45.
const (
	FUSE_KERNEL_VERSION       = 7
	FUSE_KERNEL_MINOR_VERSION = 46

	// FUSE_ROOT_ID is the node ID of the mount's root directory.
	FUSE_ROOT_ID = 1

	// FUSE_MIN_READ_BUFFER is the smallest buffer a read(2) of /dev/fuse
	// accepts; the kernel also wants room for a full WRITE request.
	FUSE_MIN_READ_BUFFER = 8192

	// FUSE_DEFAULT_MAX_PAGES_PER_REQ is the max_pages the kernel assumes
	// when the INIT reply does not set FUSE_MAX_PAGES (ABI doc §1.2).
	FUSE_DEFAULT_MAX_PAGES_PER_REQ = 32
	// FUSE_DEFAULT_MAX_PAGES_LIMIT is the default of the fs.fuse.max_pages_limit
	// sysctl that clamps init_out.max_pages (ABI doc §1.2).
	FUSE_DEFAULT_MAX_PAGES_LIMIT = 256

	// FUSE_INT_REQ_BIT marks the unique of an INTERRUPT request.
	FUSE_INT_REQ_BIT = 1 << 0
	// FUSE_UNIQUE_RESEND marks a request the kernel resent.
	FUSE_UNIQUE_RESEND = 1 << 63
)

// INIT flags. fuse_init_in/out.flags carries bits 0..31, flags2 carries bits
// 32..63 (only read when FUSE_INIT_EXT is set). The values are 64-bit so one
// word can hold both halves; see ABI doc §1.2 for the io_uring bits.
const (
	FUSE_ASYNC_READ          uint64 = 1 << 0
	FUSE_POSIX_LOCKS         uint64 = 1 << 1
	FUSE_FILE_OPS            uint64 = 1 << 2
	FUSE_ATOMIC_O_TRUNC      uint64 = 1 << 3
	FUSE_EXPORT_SUPPORT      uint64 = 1 << 4
	FUSE_BIG_WRITES          uint64 = 1 << 5
	FUSE_DONT_MASK           uint64 = 1 << 6
	FUSE_SPLICE_WRITE        uint64 = 1 << 7
	FUSE_SPLICE_MOVE         uint64 = 1 << 8
	FUSE_SPLICE_READ         uint64 = 1 << 9
	FUSE_FLOCK_LOCKS         uint64 = 1 << 10
	FUSE_HAS_IOCTL_DIR       uint64 = 1 << 11
	FUSE_AUTO_INVAL_DATA     uint64 = 1 << 12
	FUSE_DO_READDIRPLUS      uint64 = 1 << 13
	FUSE_READDIRPLUS_AUTO    uint64 = 1 << 14
	FUSE_ASYNC_DIO           uint64 = 1 << 15
	FUSE_WRITEBACK_CACHE     uint64 = 1 << 16
	FUSE_NO_OPEN_SUPPORT     uint64 = 1 << 17
	FUSE_PARALLEL_DIROPS     uint64 = 1 << 18
	FUSE_HANDLE_KILLPRIV     uint64 = 1 << 19
	FUSE_POSIX_ACL           uint64 = 1 << 20
	FUSE_ABORT_ERROR         uint64 = 1 << 21
	FUSE_MAX_PAGES           uint64 = 1 << 22
	FUSE_CACHE_SYMLINKS      uint64 = 1 << 23
	FUSE_NO_OPENDIR_SUPPORT  uint64 = 1 << 24
	FUSE_EXPLICIT_INVAL_DATA uint64 = 1 << 25
	FUSE_MAP_ALIGNMENT       uint64 = 1 << 26
	FUSE_SUBMOUNTS           uint64 = 1 << 27
	FUSE_HANDLE_KILLPRIV_V2  uint64 = 1 << 28
	FUSE_SETXATTR_EXT        uint64 = 1 << 29
	FUSE_INIT_EXT            uint64 = 1 << 30
	FUSE_INIT_RESERVED       uint64 = 1 << 31

	FUSE_SECURITY_CTX         uint64 = 1 << 32
	FUSE_HAS_INODE_DAX        uint64 = 1 << 33
	FUSE_CREATE_SUPP_GROUP    uint64 = 1 << 34
	FUSE_HAS_EXPIRE_ONLY      uint64 = 1 << 35
	FUSE_DIRECT_IO_ALLOW_MMAP uint64 = 1 << 36
	FUSE_PASSTHROUGH          uint64 = 1 << 37
	FUSE_NO_EXPORT_SUPPORT    uint64 = 1 << 38
	FUSE_HAS_RESEND           uint64 = 1 << 39
	FUSE_ALLOW_IDMAP          uint64 = 1 << 40
	// FUSE_OVER_IO_URING is flags2 bit 9 (ABI doc §1.2, §2.5).
	FUSE_OVER_IO_URING   uint64 = 1 << 41
	FUSE_REQUEST_TIMEOUT uint64 = 1 << 42
	// FUSE_HAS_IO_URING_BUFPOOL is flags2 bit 11, advertised by 7.3 only;
	// the kernel never reads it in a reply (ABI doc §1.2, §2.5).
	FUSE_HAS_IO_URING_BUFPOOL uint64 = 1 << 43
)

// FOPEN_* bits of fuse_open_out.open_flags (uapi fuse.h; ABI doc §2.5 for
// FOPEN_IO_URING_ZERO_COPY).
const (
	FOPEN_DIRECT_IO              uint32 = 1 << 0
	FOPEN_KEEP_CACHE             uint32 = 1 << 1
	FOPEN_NONSEEKABLE            uint32 = 1 << 2
	FOPEN_CACHE_DIR              uint32 = 1 << 3
	FOPEN_STREAM                 uint32 = 1 << 4
	FOPEN_NOFLUSH                uint32 = 1 << 5
	FOPEN_PARALLEL_DIRECT_WRITES uint32 = 1 << 6
	FOPEN_PASSTHROUGH            uint32 = 1 << 7
	FOPEN_IO_URING_ZERO_COPY     uint32 = 1 << 8
)

// FATTR_* bits of fuse_setattr_in.valid (uapi fuse.h).
const (
	FATTR_MODE         uint32 = 1 << 0
	FATTR_UID          uint32 = 1 << 1
	FATTR_GID          uint32 = 1 << 2
	FATTR_SIZE         uint32 = 1 << 3
	FATTR_ATIME        uint32 = 1 << 4
	FATTR_MTIME        uint32 = 1 << 5
	FATTR_FH           uint32 = 1 << 6
	FATTR_ATIME_NOW    uint32 = 1 << 7
	FATTR_MTIME_NOW    uint32 = 1 << 8
	FATTR_LOCKOWNER    uint32 = 1 << 9
	FATTR_CTIME        uint32 = 1 << 10
	FATTR_KILL_SUIDGID uint32 = 1 << 11
)

// Small per-request flag words (uapi fuse.h).
const (
	FUSE_GETATTR_FH           uint32 = 1 << 0 // fuse_getattr_in.getattr_flags
	FUSE_RELEASE_FLUSH        uint32 = 1 << 0 // fuse_release_in.release_flags
	FUSE_RELEASE_FLOCK_UNLOCK uint32 = 1 << 1
	FUSE_WRITE_CACHE          uint32 = 1 << 0 // fuse_write_in.write_flags
	FUSE_WRITE_LOCKOWNER      uint32 = 1 << 1
	FUSE_WRITE_KILL_SUIDGID   uint32 = 1 << 2
	FUSE_READ_LOCKOWNER       uint32 = 1 << 1 // fuse_read_in.read_flags
	FUSE_FSYNC_FDATASYNC      uint32 = 1 << 0 // fuse_fsync_in.fsync_flags
)

// FlagName names one bit of a flag word.
type FlagName struct {
	Bit  uint64
	Name string
}

// InitFlagNames names every INIT flag bit, flags (bits 0..31) and flags2
// (bits 32..63) combined.
var InitFlagNames = []FlagName{
	{FUSE_ASYNC_READ, "FUSE_ASYNC_READ"},
	{FUSE_POSIX_LOCKS, "FUSE_POSIX_LOCKS"},
	{FUSE_FILE_OPS, "FUSE_FILE_OPS"},
	{FUSE_ATOMIC_O_TRUNC, "FUSE_ATOMIC_O_TRUNC"},
	{FUSE_EXPORT_SUPPORT, "FUSE_EXPORT_SUPPORT"},
	{FUSE_BIG_WRITES, "FUSE_BIG_WRITES"},
	{FUSE_DONT_MASK, "FUSE_DONT_MASK"},
	{FUSE_SPLICE_WRITE, "FUSE_SPLICE_WRITE"},
	{FUSE_SPLICE_MOVE, "FUSE_SPLICE_MOVE"},
	{FUSE_SPLICE_READ, "FUSE_SPLICE_READ"},
	{FUSE_FLOCK_LOCKS, "FUSE_FLOCK_LOCKS"},
	{FUSE_HAS_IOCTL_DIR, "FUSE_HAS_IOCTL_DIR"},
	{FUSE_AUTO_INVAL_DATA, "FUSE_AUTO_INVAL_DATA"},
	{FUSE_DO_READDIRPLUS, "FUSE_DO_READDIRPLUS"},
	{FUSE_READDIRPLUS_AUTO, "FUSE_READDIRPLUS_AUTO"},
	{FUSE_ASYNC_DIO, "FUSE_ASYNC_DIO"},
	{FUSE_WRITEBACK_CACHE, "FUSE_WRITEBACK_CACHE"},
	{FUSE_NO_OPEN_SUPPORT, "FUSE_NO_OPEN_SUPPORT"},
	{FUSE_PARALLEL_DIROPS, "FUSE_PARALLEL_DIROPS"},
	{FUSE_HANDLE_KILLPRIV, "FUSE_HANDLE_KILLPRIV"},
	{FUSE_POSIX_ACL, "FUSE_POSIX_ACL"},
	{FUSE_ABORT_ERROR, "FUSE_ABORT_ERROR"},
	{FUSE_MAX_PAGES, "FUSE_MAX_PAGES"},
	{FUSE_CACHE_SYMLINKS, "FUSE_CACHE_SYMLINKS"},
	{FUSE_NO_OPENDIR_SUPPORT, "FUSE_NO_OPENDIR_SUPPORT"},
	{FUSE_EXPLICIT_INVAL_DATA, "FUSE_EXPLICIT_INVAL_DATA"},
	{FUSE_MAP_ALIGNMENT, "FUSE_MAP_ALIGNMENT"},
	{FUSE_SUBMOUNTS, "FUSE_SUBMOUNTS"},
	{FUSE_HANDLE_KILLPRIV_V2, "FUSE_HANDLE_KILLPRIV_V2"},
	{FUSE_SETXATTR_EXT, "FUSE_SETXATTR_EXT"},
	{FUSE_INIT_EXT, "FUSE_INIT_EXT"},
	{FUSE_INIT_RESERVED, "FUSE_INIT_RESERVED"},
	{FUSE_SECURITY_CTX, "FUSE_SECURITY_CTX"},
	{FUSE_HAS_INODE_DAX, "FUSE_HAS_INODE_DAX"},
	{FUSE_CREATE_SUPP_GROUP, "FUSE_CREATE_SUPP_GROUP"},
	{FUSE_HAS_EXPIRE_ONLY, "FUSE_HAS_EXPIRE_ONLY"},
	{FUSE_DIRECT_IO_ALLOW_MMAP, "FUSE_DIRECT_IO_ALLOW_MMAP"},
	{FUSE_PASSTHROUGH, "FUSE_PASSTHROUGH"},
	{FUSE_NO_EXPORT_SUPPORT, "FUSE_NO_EXPORT_SUPPORT"},
	{FUSE_HAS_RESEND, "FUSE_HAS_RESEND"},
	{FUSE_ALLOW_IDMAP, "FUSE_ALLOW_IDMAP"},
	{FUSE_OVER_IO_URING, "FUSE_OVER_IO_URING"},
	{FUSE_REQUEST_TIMEOUT, "FUSE_REQUEST_TIMEOUT"},
	{FUSE_HAS_IO_URING_BUFPOOL, "FUSE_HAS_IO_URING_BUFPOOL"},
}

// OpenFlagNames names the FOPEN_* bits.
var OpenFlagNames = []FlagName{
	{uint64(FOPEN_DIRECT_IO), "FOPEN_DIRECT_IO"},
	{uint64(FOPEN_KEEP_CACHE), "FOPEN_KEEP_CACHE"},
	{uint64(FOPEN_NONSEEKABLE), "FOPEN_NONSEEKABLE"},
	{uint64(FOPEN_CACHE_DIR), "FOPEN_CACHE_DIR"},
	{uint64(FOPEN_STREAM), "FOPEN_STREAM"},
	{uint64(FOPEN_NOFLUSH), "FOPEN_NOFLUSH"},
	{uint64(FOPEN_PARALLEL_DIRECT_WRITES), "FOPEN_PARALLEL_DIRECT_WRITES"},
	{uint64(FOPEN_PASSTHROUGH), "FOPEN_PASSTHROUGH"},
	{uint64(FOPEN_IO_URING_ZERO_COPY), "FOPEN_IO_URING_ZERO_COPY"},
}

// SetattrValidNames names the FATTR_* bits.
var SetattrValidNames = []FlagName{
	{uint64(FATTR_MODE), "FATTR_MODE"},
	{uint64(FATTR_UID), "FATTR_UID"},
	{uint64(FATTR_GID), "FATTR_GID"},
	{uint64(FATTR_SIZE), "FATTR_SIZE"},
	{uint64(FATTR_ATIME), "FATTR_ATIME"},
	{uint64(FATTR_MTIME), "FATTR_MTIME"},
	{uint64(FATTR_FH), "FATTR_FH"},
	{uint64(FATTR_ATIME_NOW), "FATTR_ATIME_NOW"},
	{uint64(FATTR_MTIME_NOW), "FATTR_MTIME_NOW"},
	{uint64(FATTR_LOCKOWNER), "FATTR_LOCKOWNER"},
	{uint64(FATTR_CTIME), "FATTR_CTIME"},
	{uint64(FATTR_KILL_SUIDGID), "FATTR_KILL_SUIDGID"},
}

// FormatFlags renders v as NAME|NAME|0xREST using names; bits without a name
// are printed together in hex at the end. Zero renders as "0".
func FormatFlags(v uint64, names []FlagName) string {
	if v == 0 {
		return "0"
	}
	var b strings.Builder
	rest := v
	for _, n := range names {
		if v&n.Bit == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(n.Name)
		rest &^= n.Bit
	}
	if rest != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString("0x")
		b.WriteString(strconv.FormatUint(rest, 16))
	}
	return b.String()
}

// InitFlags joins an INIT flags/flags2 pair into one 64-bit word.
func InitFlags(flags, flags2 uint32) uint64 {
	return uint64(flags) | uint64(flags2)<<32
}

// SplitInitFlags splits a 64-bit INIT flag word into flags and flags2.
func SplitInitFlags(v uint64) (flags, flags2 uint32) {
	return uint32(v), uint32(v >> 32)
}
