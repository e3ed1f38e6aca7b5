package fuseabi

import "structs"

// The wire structs below mirror include/uapi/linux/fuse.h of Linux 7.3 field
// by field. Holes and tails are explicit `_ [N]byte`; "unused", "padding" and
// "dummy" members of the C structs are blank fields. Sizes are in the
// Sizeof* constants and pinned by types_test.go.

// Sizes of the wire structs in bytes.
const (
	SizeofInHeader      = 40
	SizeofOutHeader     = 16
	SizeofInitIn        = 64
	SizeofInitOut       = 64
	SizeofAttr          = 88
	SizeofEntryOut      = 128
	SizeofAttrOut       = 104
	SizeofGetattrIn     = 16
	SizeofSetattrIn     = 88
	SizeofOpenIn        = 8
	SizeofOpenOut       = 16
	SizeofCreateIn      = 16
	SizeofReadIn        = 40
	SizeofWriteIn       = 40
	SizeofWriteOut      = 8
	SizeofReleaseIn     = 24
	SizeofFlushIn       = 24
	SizeofFsyncIn       = 16
	SizeofMkdirIn       = 8
	SizeofMknodIn       = 16
	SizeofRenameIn      = 8
	SizeofRename2In     = 16
	SizeofLinkIn        = 8
	SizeofAccessIn      = 8
	SizeofForgetIn      = 8
	SizeofForgetOne     = 16
	SizeofBatchForgetIn = 8
	SizeofInterruptIn   = 8
	SizeofKstatfs       = 80
	SizeofStatfsOut     = 80
	SizeofPollIn        = 24
	SizeofDirent        = 24 // without the name
	SizeofDirentplus    = 152
	// SizeofInitInCompat is the fuse_init_in of kernels before 7.36
	// (major, minor, max_readahead, flags).
	SizeofInitInCompat = 16
)

// InHeader is struct fuse_in_header, the first 40 bytes of every request.
type InHeader struct {
	_           structs.HostLayout
	Len         uint32 // 40 + all in-arguments (zero-copied data included)
	Opcode      Opcode
	Unique      uint64
	NodeID      uint64
	UID         uint32
	GID         uint32
	PID         uint32
	TotalExtlen uint16 // length of request extensions in 8-byte units
	_           [2]byte
}

// OutHeader is struct fuse_out_header, the first 16 bytes of every reply.
// Error is zero or a negative errno.
type OutHeader struct {
	_      structs.HostLayout
	Len    uint32
	Error  int32
	Unique uint64
}

// InitIn is struct fuse_init_in (op-in of FUSE_INIT).
type InitIn struct {
	_            structs.HostLayout
	Major        uint32
	Minor        uint32
	MaxReadahead uint32
	Flags        uint32
	Flags2       uint32
	_            [44]byte // unused[11]
}

// InitOut is struct fuse_init_out (reply to FUSE_INIT).
type InitOut struct {
	_                   structs.HostLayout
	Major               uint32
	Minor               uint32
	MaxReadahead        uint32
	Flags               uint32
	MaxBackground       uint16
	CongestionThreshold uint16
	MaxWrite            uint32
	TimeGran            uint32
	MaxPages            uint16
	MapAlignment        uint16
	Flags2              uint32
	MaxStackDepth       uint32
	RequestTimeout      uint16
	_                   [22]byte // unused[11]
}

// Attr is struct fuse_attr.
type Attr struct {
	_         structs.HostLayout
	Ino       uint64
	Size      uint64
	Blocks    uint64
	Atime     uint64
	Mtime     uint64
	Ctime     uint64
	Atimensec uint32
	Mtimensec uint32
	Ctimensec uint32
	Mode      uint32
	Nlink     uint32
	UID       uint32
	GID       uint32
	Rdev      uint32
	Blksize   uint32
	Flags     uint32
}

// EntryOut is struct fuse_entry_out (reply to LOOKUP, MKDIR, MKNOD, and the
// first half of the CREATE reply).
type EntryOut struct {
	_              structs.HostLayout
	NodeID         uint64
	Generation     uint64
	EntryValid     uint64
	AttrValid      uint64
	EntryValidNsec uint32
	AttrValidNsec  uint32
	Attr           Attr
}

// AttrOut is struct fuse_attr_out (reply to GETATTR and SETATTR).
type AttrOut struct {
	_             structs.HostLayout
	AttrValid     uint64
	AttrValidNsec uint32
	_             [4]byte // dummy
	Attr          Attr
}

// GetattrIn is struct fuse_getattr_in.
type GetattrIn struct {
	_            structs.HostLayout
	GetattrFlags uint32
	_            [4]byte // dummy
	Fh           uint64
}

// SetattrIn is struct fuse_setattr_in.
type SetattrIn struct {
	_         structs.HostLayout
	Valid     uint32
	_         [4]byte // padding
	Fh        uint64
	Size      uint64
	LockOwner uint64
	Atime     uint64
	Mtime     uint64
	Ctime     uint64
	Atimensec uint32
	Mtimensec uint32
	Ctimensec uint32
	Mode      uint32
	_         [4]byte // unused4
	UID       uint32
	GID       uint32
	_         [4]byte // unused5
}

// OpenIn is struct fuse_open_in (OPEN and OPENDIR).
type OpenIn struct {
	_         structs.HostLayout
	Flags     uint32
	OpenFlags uint32
}

// OpenOut is struct fuse_open_out (OPEN, OPENDIR, second half of CREATE).
type OpenOut struct {
	_         structs.HostLayout
	Fh        uint64
	OpenFlags uint32
	BackingID int32
}

// CreateIn is struct fuse_create_in.
type CreateIn struct {
	_         structs.HostLayout
	Flags     uint32
	Mode      uint32
	Umask     uint32
	OpenFlags uint32
}

// ReadIn is struct fuse_read_in (READ, READDIR, READDIRPLUS).
type ReadIn struct {
	_         structs.HostLayout
	Fh        uint64
	Offset    uint64
	Size      uint32
	ReadFlags uint32
	LockOwner uint64
	Flags     uint32
	_         [4]byte // padding
}

// WriteIn is struct fuse_write_in.
type WriteIn struct {
	_          structs.HostLayout
	Fh         uint64
	Offset     uint64
	Size       uint32
	WriteFlags uint32
	LockOwner  uint64
	Flags      uint32
	_          [4]byte // padding
}

// WriteOut is struct fuse_write_out.
type WriteOut struct {
	_    structs.HostLayout
	Size uint32
	_    [4]byte // padding
}

// ReleaseIn is struct fuse_release_in (RELEASE and RELEASEDIR).
type ReleaseIn struct {
	_            structs.HostLayout
	Fh           uint64
	Flags        uint32
	ReleaseFlags uint32
	LockOwner    uint64
}

// FlushIn is struct fuse_flush_in.
type FlushIn struct {
	_         structs.HostLayout
	Fh        uint64
	_         [4]byte // unused
	_         [4]byte // padding
	LockOwner uint64
}

// FsyncIn is struct fuse_fsync_in (FSYNC and FSYNCDIR).
type FsyncIn struct {
	_          structs.HostLayout
	Fh         uint64
	FsyncFlags uint32
	_          [4]byte // padding
}

// MkdirIn is struct fuse_mkdir_in.
type MkdirIn struct {
	_     structs.HostLayout
	Mode  uint32
	Umask uint32
}

// MknodIn is struct fuse_mknod_in.
type MknodIn struct {
	_     structs.HostLayout
	Mode  uint32
	Rdev  uint32
	Umask uint32
	_     [4]byte // padding
}

// RenameIn is struct fuse_rename_in.
type RenameIn struct {
	_      structs.HostLayout
	Newdir uint64
}

// Rename2In is struct fuse_rename2_in.
type Rename2In struct {
	_      structs.HostLayout
	Newdir uint64
	Flags  uint32
	_      [4]byte // padding
}

// LinkIn is struct fuse_link_in.
type LinkIn struct {
	_         structs.HostLayout
	Oldnodeid uint64
}

// AccessIn is struct fuse_access_in.
type AccessIn struct {
	_    structs.HostLayout
	Mask uint32
	_    [4]byte // padding
}

// ForgetIn is struct fuse_forget_in.
type ForgetIn struct {
	_       structs.HostLayout
	Nlookup uint64
}

// ForgetOne is struct fuse_forget_one, the element of a BATCH_FORGET array.
type ForgetOne struct {
	_       structs.HostLayout
	NodeID  uint64
	Nlookup uint64
}

// BatchForgetIn is struct fuse_batch_forget_in; Count ForgetOne elements
// follow it.
type BatchForgetIn struct {
	_     structs.HostLayout
	Count uint32
	_     [4]byte // dummy
}

// InterruptIn is struct fuse_interrupt_in.
type InterruptIn struct {
	_      structs.HostLayout
	Unique uint64
}

// Kstatfs is struct fuse_kstatfs.
type Kstatfs struct {
	_       structs.HostLayout
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Bsize   uint32
	Namelen uint32
	Frsize  uint32
	_       [4]byte  // padding
	_       [24]byte // spare[6]
}

// StatfsOut is struct fuse_statfs_out.
type StatfsOut struct {
	_  structs.HostLayout
	St Kstatfs
}

// PollIn is struct fuse_poll_in.
type PollIn struct {
	_      structs.HostLayout
	Fh     uint64
	Kh     uint64
	Flags  uint32
	Events uint32
}

// Dirent is struct fuse_dirent without its trailing name; a record is the
// header, Namelen name bytes, and zero padding to a multiple of 8.
type Dirent struct {
	_       structs.HostLayout
	Ino     uint64
	Off     uint64
	Namelen uint32
	Type    uint32
}

// Direntplus is struct fuse_direntplus without the trailing name.
type Direntplus struct {
	_        structs.HostLayout
	EntryOut EntryOut
	Dirent   Dirent
}
