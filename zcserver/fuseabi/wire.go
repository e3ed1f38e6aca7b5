package fuseabi

import "unsafe"

// Wire is the set of fixed-size wire structs that Load and Store convert.
type Wire interface {
	InHeader | OutHeader | InitIn | InitOut | Attr | EntryOut | AttrOut |
		GetattrIn | SetattrIn | OpenIn | OpenOut | CreateIn | ReadIn | WriteIn |
		WriteOut | ReleaseIn | FlushIn | FsyncIn | MkdirIn | MknodIn | RenameIn |
		Rename2In | LinkIn | AccessIn | ForgetIn | ForgetOne | BatchForgetIn |
		InterruptIn | Kstatfs | StatfsOut | PollIn | Dirent | Direntplus
}

// Size returns the wire size of T.
func Size[T Wire]() int {
	var v T
	return int(unsafe.Sizeof(v))
}

// Load copies the first Size[T]() bytes of b into a T. It reports false,
// and returns the zero T, when b is shorter. It never aliases b and has no
// alignment requirement.
func Load[T Wire](b []byte) (T, bool) {
	var v T
	n := int(unsafe.Sizeof(v))
	if len(b) < n {
		return v, false
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&v)), n), b)
	return v, true
}

// Store copies *v into the start of b and returns the number of bytes
// written, or 0 when b is too short (nothing is written then).
func Store[T Wire](b []byte, v *T) int {
	n := int(unsafe.Sizeof(*v))
	if len(b) < n {
		return 0
	}
	return copy(b, unsafe.Slice((*byte)(unsafe.Pointer(v)), n))
}

// Bytes views *v as its wire bytes. The slice aliases v.
func Bytes[T Wire](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

// DirentAlign rounds a dirent record length up to the 8-byte boundary the
// kernel expects (FUSE_DIRENT_ALIGN).
func DirentAlign(n int) int {
	return (n + 7) &^ 7
}

// DirentSize is the record length of a fuse_dirent with a name of n bytes.
func DirentSize(n int) int { return DirentAlign(SizeofDirent + n) }

// DirentplusSize is the record length of a fuse_direntplus with a name of n
// bytes.
func DirentplusSize(n int) int { return DirentAlign(SizeofDirentplus + n) }

// PutDirent appends one fuse_dirent record (header, name, zero padding) at
// the start of b and returns its length, or 0 when it does not fit.
func PutDirent(b []byte, d Dirent, name string) int {
	n := DirentSize(len(name))
	if len(b) < n {
		return 0
	}
	d.Namelen = uint32(len(name))
	Store(b, &d)
	copy(b[SizeofDirent:], name)
	clear(b[SizeofDirent+len(name) : n])
	return n
}

// PutDirentplus appends one fuse_direntplus record at the start of b and
// returns its length, or 0 when it does not fit.
func PutDirentplus(b []byte, d Direntplus, name string) int {
	n := DirentplusSize(len(name))
	if len(b) < n {
		return 0
	}
	d.Dirent.Namelen = uint32(len(name))
	Store(b, &d)
	copy(b[SizeofDirentplus:], name)
	clear(b[SizeofDirentplus+len(name) : n])
	return n
}
