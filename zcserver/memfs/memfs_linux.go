package memfs

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// RootID is the node ID of the root directory (FUSE_ROOT_ID).
const RootID = 1

// Generation is the generation number of every node: IDs are never reused,
// so a constant generation keeps (id, generation) unique.
const Generation = 1

// Limits reported by StatFS and enforced on names.
const (
	NameMax   = 255
	BlockSize = 4096
)

// Options configures New.
type Options struct {
	// BackingDir, when set, holds the backing files of regular files
	// (e.g. a tmpfs). Empty means one memfd per file.
	BackingDir string
	// Now returns the current time; nil means time.Now. Tests pin it.
	Now func() time.Time
}

// Attr is a node's attributes as FUSE reports them.
type Attr struct {
	Ino                 uint64
	Size                uint64
	Blocks              uint64 // 512-byte units
	Atime, Mtime, Ctime time.Time
	Mode                uint32 // type and permission bits (S_IF* | 07777)
	Nlink               uint32
	UID, GID            uint32
}

// Owner is the creator of a new node (from fuse_in_header uid/gid).
type Owner struct{ UID, GID uint32 }

// SetAttr selects attribute changes; Valid uses the FATTR_* bits of
// fuse_setattr_in (MODE, UID, GID, SIZE, ATIME, MTIME, CTIME). The caller
// resolves FATTR_ATIME_NOW/MTIME_NOW into Atime/Mtime.
type SetAttr struct {
	Valid               uint32
	Mode                uint32
	UID, GID            uint32
	Size                uint64
	Atime, Mtime, Ctime time.Time
}

// setattr bits used here; the values are the FATTR_* bits of uapi fuse.h.
const (
	fattrMode  = 1 << 0
	fattrUID   = 1 << 1
	fattrGID   = 1 << 2
	fattrSize  = 1 << 3
	fattrAtime = 1 << 4
	fattrMtime = 1 << 5
	fattrCtime = 1 << 10
)

// DirEntry is one READDIR record. Off is the cookie to pass back to
// continue after this entry.
type DirEntry struct {
	Name string
	Off  uint64
	Attr Attr
	// Dot is true for "." and "..": READDIRPLUS must not count a lookup
	// for them.
	Dot bool
}

// Stats is a StatFS result.
type Stats struct {
	Nodes uint64 // live nodes, root included
	Bytes uint64 // sum of regular file sizes
}

// FS is an in-memory file tree. The zero value is not usable; call New.
type FS struct {
	opts Options

	mu      sync.Mutex
	nodes   map[uint64]*node
	handles map[uint64]*handle
	bytes   uint64 // sum of file sizes

	nextID atomic.Uint64
	nextFh atomic.Uint64
}

type node struct {
	id      uint64
	mode    uint32
	uid     uint32
	gid     uint32
	nlink   uint32
	atime   time.Time
	mtime   time.Time
	ctime   time.Time
	nlookup uint64
	opens   int

	// parent and name locate the node's (only) link; nil parent when
	// unlinked. The root's parent is itself.
	parent *node
	name   string

	// regular files
	fd   int
	size uint64

	// directories
	dir *dirData
}

type dirData struct {
	byName     map[string]*dirent
	entries    []*dirent // ascending cookie
	nextCookie uint64
}

type dirent struct {
	name   string
	cookie uint64
	n      *node
}

// First cookie of a real entry; 1 and 2 are "." and "..".
const firstCookie = 3

type handle struct {
	n     *node
	flags uint32
	dir   bool
}

// New returns an FS holding an empty root directory with mode 0755 owned
// by root.
func New(opts Options) (*FS, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BackingDir != "" {
		var st unix.Stat_t
		if err := unix.Stat(opts.BackingDir, &st); err != nil {
			return nil, fmt.Errorf("memfs: backing dir %s: %w", opts.BackingDir, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil, fmt.Errorf("memfs: backing dir %s: %w", opts.BackingDir, unix.ENOTDIR)
		}
	}
	fs := &FS{
		opts:    opts,
		nodes:   map[uint64]*node{},
		handles: map[uint64]*handle{},
	}
	now := opts.Now()
	root := &node{
		id: RootID, mode: unix.S_IFDIR | 0o755, nlink: 2, fd: -1,
		atime: now, mtime: now, ctime: now,
		dir: newDirData(),
	}
	root.parent = root
	fs.nodes[RootID] = root
	fs.nextID.Store(RootID)
	return fs, nil
}

func newDirData() *dirData {
	return &dirData{byName: map[string]*dirent{}, nextCookie: firstCookie}
}

// Close releases every backing descriptor. Using fs afterwards fails.
func (fs *FS) Close() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var errs []error
	for id, n := range fs.nodes {
		if n.fd >= 0 {
			if err := unix.Close(n.fd); err != nil {
				errs = append(errs, fmt.Errorf("memfs: close backing fd of node %d: %w", id, err))
			}
			n.fd = -1
		}
	}
	clear(fs.nodes)
	clear(fs.handles)
	return errors.Join(errs...)
}

func (n *node) isDir() bool { return n.mode&unix.S_IFMT == unix.S_IFDIR }

func (n *node) attr() Attr {
	a := Attr{
		Ino: n.id, Mode: n.mode, Nlink: n.nlink, UID: n.uid, GID: n.gid,
		Atime: n.atime, Mtime: n.mtime, Ctime: n.ctime,
	}
	if n.isDir() {
		a.Size = BlockSize
	} else {
		a.Size = n.size
	}
	a.Blocks = (a.Size + 511) / 512
	return a
}

// get returns the live node id. Caller holds mu.
func (fs *FS) get(id uint64) (*node, error) {
	n, ok := fs.nodes[id]
	if !ok {
		return nil, unix.ENOENT
	}
	return n, nil
}

func (fs *FS) getDir(id uint64) (*node, error) {
	n, err := fs.get(id)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, unix.ENOTDIR
	}
	if n.nlink == 0 {
		return nil, unix.ENOENT // removed directory
	}
	return n, nil
}

func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return unix.EINVAL
	case len(name) > NameMax:
		return unix.ENAMETOOLONG
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return unix.EINVAL
		}
	}
	return nil
}

// maybeFree drops n when nothing refers to it any more. Caller holds mu.
func (fs *FS) maybeFree(n *node) {
	if n.id == RootID || n.nlink != 0 || n.nlookup != 0 || n.opens != 0 {
		return
	}
	delete(fs.nodes, n.id)
	if n.fd >= 0 {
		fs.bytes -= n.size
		_ = unix.Close(n.fd) // nothing useful to do with a close error of an anonymous file
		n.fd = -1
	}
}

// Lookup finds name in directory parent and counts one lookup on the result.
func (fs *FS) Lookup(parent uint64, name string) (Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	p, err := fs.getDir(parent)
	if err != nil {
		return Attr{}, err
	}
	de, ok := p.dir.byName[name]
	if !ok {
		return Attr{}, unix.ENOENT
	}
	de.n.nlookup++
	return de.n.attr(), nil
}

// Forget drops n lookups from node id (FORGET, BATCH_FORGET). Unknown ids
// and over-large counts are tolerated: the count stops at zero.
func (fs *FS) Forget(id uint64, n uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	nd, ok := fs.nodes[id]
	if !ok {
		return
	}
	if n > nd.nlookup {
		n = nd.nlookup
	}
	nd.nlookup -= n
	fs.maybeFree(nd)
}

// Lookups returns node id's current lookup count, and whether it is live.
func (fs *FS) Lookups(id uint64) (uint64, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, ok := fs.nodes[id]
	if !ok {
		return 0, false
	}
	return n.nlookup, true
}

// GetAttr returns node id's attributes.
func (fs *FS) GetAttr(id uint64) (Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return Attr{}, err
	}
	return n.attr(), nil
}

// SetAttr applies the changes selected by s.Valid and returns the new
// attributes. A size change on a directory fails with EISDIR.
func (fs *FS) SetAttr(id uint64, s SetAttr) (Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return Attr{}, err
	}
	now := fs.opts.Now()
	if s.Valid&fattrSize != 0 {
		if n.isDir() {
			return Attr{}, unix.EISDIR
		}
		if s.Size > 1<<62 {
			return Attr{}, unix.EFBIG
		}
		if err := unix.Ftruncate(n.fd, int64(s.Size)); err != nil {
			return Attr{}, fmt.Errorf("memfs: truncate node %d to %d: %w", id, s.Size, err)
		}
		fs.bytes += s.Size - n.size
		n.size = s.Size
		n.mtime = now
	}
	if s.Valid&fattrMode != 0 {
		n.mode = n.mode&unix.S_IFMT | s.Mode&0o7777
	}
	if s.Valid&fattrUID != 0 {
		n.uid = s.UID
	}
	if s.Valid&fattrGID != 0 {
		n.gid = s.GID
	}
	if s.Valid&fattrAtime != 0 {
		n.atime = s.Atime
	}
	if s.Valid&fattrMtime != 0 {
		n.mtime = s.Mtime
	}
	if s.Valid&fattrCtime != 0 {
		n.ctime = s.Ctime
	} else {
		n.ctime = now
	}
	return n.attr(), nil
}

// newBacking creates an empty backing file for node id.
func (fs *FS) newBacking(id uint64) (int, error) {
	if fs.opts.BackingDir == "" {
		fd, err := unix.MemfdCreate("zcserver-"+strconv.FormatUint(id, 10), unix.MFD_CLOEXEC)
		if err != nil {
			return -1, fmt.Errorf("memfs: memfd for node %d: %w", id, err)
		}
		return fd, nil
	}
	fd, err := unix.Open(fs.opts.BackingDir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return fd, nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) {
		return -1, fmt.Errorf("memfs: O_TMPFILE in %s: %w", fs.opts.BackingDir, err)
	}
	p := path.Join(fs.opts.BackingDir, ".zcserver-"+strconv.FormatUint(id, 10))
	fd, err = unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return -1, fmt.Errorf("memfs: create %s: %w", p, err)
	}
	if err := unix.Unlink(p); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("memfs: unlink %s: %w", p, err)
	}
	return fd, nil
}

// link adds n to directory p under name. Caller holds mu.
func (p *node) link(name string, n *node) {
	d := p.dir
	de := &dirent{name: name, cookie: d.nextCookie, n: n}
	d.nextCookie++
	d.byName[name] = de
	d.entries = append(d.entries, de)
	n.parent, n.name = p, name
}

// unlink removes name from directory p. Caller holds mu.
func (p *node) unlink(name string) {
	d := p.dir
	de := d.byName[name]
	delete(d.byName, name)
	i, found := slices.BinarySearchFunc(d.entries, de.cookie, func(e *dirent, c uint64) int {
		switch {
		case e.cookie < c:
			return -1
		case e.cookie > c:
			return 1
		}
		return 0
	})
	if found {
		d.entries = slices.Delete(d.entries, i, i+1)
	}
	if de.n.parent == p && de.n.name == name {
		de.n.parent = nil
	}
}

// create makes a new node named name in parent. Caller must not hold mu.
func (fs *FS) create(parent uint64, name string, mode uint32, o Owner) (*node, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	id := fs.nextID.Add(1)
	n := &node{id: id, mode: mode, uid: o.UID, gid: o.GID, fd: -1}
	if mode&unix.S_IFMT == unix.S_IFDIR {
		n.dir = newDirData()
		n.nlink = 2
	} else {
		fd, err := fs.newBacking(id)
		if err != nil {
			return nil, err
		}
		n.fd = fd
		n.nlink = 1
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	p, err := fs.getDir(parent)
	if err == nil {
		if _, exists := p.dir.byName[name]; exists {
			err = unix.EEXIST
		}
	}
	if err != nil {
		if n.fd >= 0 {
			_ = unix.Close(n.fd)
		}
		return nil, err
	}
	now := fs.opts.Now()
	n.atime, n.mtime, n.ctime = now, now, now
	p.link(name, n)
	if n.isDir() {
		p.nlink++
	}
	p.mtime, p.ctime = now, now
	n.nlookup = 1
	fs.nodes[id] = n
	return n, nil
}

// Mkdir creates directory name in parent with permission bits perm and
// counts one lookup on it.
func (fs *FS) Mkdir(parent uint64, name string, perm uint32, o Owner) (Attr, error) {
	n, err := fs.create(parent, name, unix.S_IFDIR|perm&0o7777, o)
	if err != nil {
		return Attr{}, err
	}
	return fs.attrOf(n), nil
}

// Mknod creates a regular file (mode's type bits must be S_IFREG or zero)
// and counts one lookup on it. Other node types fail with EPERM.
func (fs *FS) Mknod(parent uint64, name string, mode uint32, o Owner) (Attr, error) {
	if t := mode & unix.S_IFMT; t != 0 && t != unix.S_IFREG {
		return Attr{}, unix.EPERM
	}
	n, err := fs.create(parent, name, unix.S_IFREG|mode&0o7777, o)
	if err != nil {
		return Attr{}, err
	}
	return fs.attrOf(n), nil
}

// Create makes regular file name in parent, counts one lookup and opens it
// (CREATE). It returns the attributes and the new file handle.
func (fs *FS) Create(parent uint64, name string, mode uint32, flags uint32, o Owner) (Attr, uint64, error) {
	if t := mode & unix.S_IFMT; t != 0 && t != unix.S_IFREG {
		return Attr{}, 0, unix.EPERM
	}
	n, err := fs.create(parent, name, unix.S_IFREG|mode&0o7777, o)
	if err != nil {
		return Attr{}, 0, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fh := fs.addHandle(n, flags, false)
	return n.attr(), fh, nil
}

func (fs *FS) attrOf(n *node) Attr {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return n.attr()
}

// addHandle registers an open handle. Caller holds mu.
func (fs *FS) addHandle(n *node, flags uint32, dir bool) uint64 {
	fh := fs.nextFh.Add(1)
	fs.handles[fh] = &handle{n: n, flags: flags, dir: dir}
	n.opens++
	return fh
}

// Open opens regular file id and returns a handle. Directories fail with
// EISDIR (the kernel uses OpenDir for them).
func (fs *FS) Open(id uint64, flags uint32) (uint64, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return 0, err
	}
	if n.isDir() {
		return 0, unix.EISDIR
	}
	return fs.addHandle(n, flags, false), nil
}

// OpenDir opens directory id and returns a handle.
func (fs *FS) OpenDir(id uint64, flags uint32) (uint64, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, err := fs.get(id)
	if err != nil {
		return 0, err
	}
	if !n.isDir() {
		return 0, unix.ENOTDIR
	}
	return fs.addHandle(n, flags, true), nil
}

// Release closes handle fh (RELEASE, RELEASEDIR).
func (fs *FS) Release(fh uint64) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, ok := fs.handles[fh]
	if !ok {
		return unix.EBADF
	}
	delete(fs.handles, fh)
	h.n.opens--
	fs.maybeFree(h.n)
	return nil
}

// Handles returns the number of open handles.
func (fs *FS) Handles() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.handles)
}

func (fs *FS) fileHandle(fh uint64) (*handle, error) {
	h, ok := fs.handles[fh]
	if !ok {
		return nil, unix.EBADF
	}
	if h.dir {
		return nil, unix.EISDIR
	}
	return h, nil
}

// Extent is the backing location of a READ or WRITE: Len bytes at Off of
// the descriptor Fd. Fd stays valid until the handle is released.
type Extent struct {
	Fd   int
	Off  int64
	Len  int
	Node uint64
}

// ReadExtent resolves a READ of size bytes at off through handle fh. Len is
// clamped to the file size (0 at or past EOF).
func (fs *FS) ReadExtent(fh uint64, off uint64, size uint32) (Extent, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, err := fs.fileHandle(fh)
	if err != nil {
		return Extent{}, err
	}
	if off > 1<<62 {
		return Extent{}, unix.EINVAL
	}
	n := h.n
	e := Extent{Fd: n.fd, Off: int64(off), Node: n.id}
	if off < n.size {
		e.Len = int(min(uint64(size), n.size-off))
	}
	return e, nil
}

// WriteExtent resolves a WRITE of size bytes at off through handle fh. The
// caller moves the data into Fd, then reports it with Wrote.
func (fs *FS) WriteExtent(fh uint64, off uint64, size uint32) (Extent, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, err := fs.fileHandle(fh)
	if err != nil {
		return Extent{}, err
	}
	if off > 1<<62 {
		return Extent{}, unix.EFBIG
	}
	return Extent{Fd: h.n.fd, Off: int64(off), Len: int(size), Node: h.n.id}, nil
}

// Wrote records that n bytes were stored at e.Off of e.Fd: the size grows to
// cover them and mtime/ctime move. n may be smaller than e.Len.
func (fs *FS) Wrote(e Extent, n int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	nd, ok := fs.nodes[e.Node]
	if !ok {
		return
	}
	if end := uint64(e.Off) + uint64(n); end > nd.size {
		fs.bytes += end - nd.size
		nd.size = end
	}
	now := fs.opts.Now()
	nd.mtime, nd.ctime = now, now
}

// Unlink removes the non-directory name from parent.
func (fs *FS) Unlink(parent uint64, name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	p, err := fs.getDir(parent)
	if err != nil {
		return err
	}
	de, ok := p.dir.byName[name]
	if !ok {
		return unix.ENOENT
	}
	if de.n.isDir() {
		return unix.EISDIR
	}
	p.unlink(name)
	now := fs.opts.Now()
	p.mtime, p.ctime = now, now
	de.n.nlink--
	de.n.ctime = now
	fs.maybeFree(de.n)
	return nil
}

// Rmdir removes the empty directory name from parent (ENOTEMPTY otherwise).
func (fs *FS) Rmdir(parent uint64, name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	p, err := fs.getDir(parent)
	if err != nil {
		return err
	}
	de, ok := p.dir.byName[name]
	if !ok {
		return unix.ENOENT
	}
	if !de.n.isDir() {
		return unix.ENOTDIR
	}
	if len(de.n.dir.byName) != 0 {
		return unix.ENOTEMPTY
	}
	p.unlink(name)
	p.nlink--
	now := fs.opts.Now()
	p.mtime, p.ctime = now, now
	de.n.nlink = 0
	de.n.ctime = now
	fs.maybeFree(de.n)
	return nil
}

// Rename flags (renameat2(2)); the values are the kernel's.
const (
	RENAME_NOREPLACE = unix.RENAME_NOREPLACE
	RENAME_EXCHANGE  = unix.RENAME_EXCHANGE
	RENAME_WHITEOUT  = unix.RENAME_WHITEOUT
)

// Rename moves oldName in oldParent to newName in newParent, replacing a
// compatible target (RENAME, RENAME2). flags may hold RENAME_NOREPLACE or
// RENAME_EXCHANGE; RENAME_WHITEOUT and unknown bits fail with EINVAL.
func (fs *FS) Rename(oldParent uint64, oldName string, newParent uint64, newName string, flags uint32) error {
	if flags&^(RENAME_NOREPLACE|RENAME_EXCHANGE) != 0 || flags == RENAME_NOREPLACE|RENAME_EXCHANGE {
		return unix.EINVAL
	}
	if err := checkName(newName); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	op, err := fs.getDir(oldParent)
	if err != nil {
		return err
	}
	np, err := fs.getDir(newParent)
	if err != nil {
		return err
	}
	src, ok := op.dir.byName[oldName]
	if !ok {
		return unix.ENOENT
	}
	dst := np.dir.byName[newName]
	if src == dst {
		return nil
	}
	// A directory may not move below itself.
	if src.n.isDir() {
		for a := np; ; a = a.parent {
			if a == src.n {
				return unix.EINVAL
			}
			if a.id == RootID || a.parent == nil {
				break
			}
		}
	}
	now := fs.opts.Now()
	if flags&RENAME_EXCHANGE != 0 {
		if dst == nil {
			return unix.ENOENT
		}
		if dst.n.isDir() {
			for a := op; ; a = a.parent {
				if a == dst.n {
					return unix.EINVAL
				}
				if a.id == RootID || a.parent == nil {
					break
				}
			}
		}
		a, b := src.n, dst.n
		src.n, dst.n = b, a
		a.parent, a.name = np, newName
		b.parent, b.name = op, oldName
		if op != np && a.isDir() != b.isDir() {
			if a.isDir() {
				op.nlink--
				np.nlink++
			} else {
				np.nlink--
				op.nlink++
			}
		}
		a.ctime, b.ctime = now, now
		op.mtime, op.ctime, np.mtime, np.ctime = now, now, now, now
		return nil
	}
	if dst != nil {
		if flags&RENAME_NOREPLACE != 0 {
			return unix.EEXIST
		}
		switch {
		case src.n.isDir() && !dst.n.isDir():
			return unix.ENOTDIR
		case !src.n.isDir() && dst.n.isDir():
			return unix.EISDIR
		case dst.n.isDir() && len(dst.n.dir.byName) != 0:
			return unix.ENOTEMPTY
		}
		victim := dst.n
		np.unlink(newName)
		if victim.isDir() {
			victim.nlink = 0
			np.nlink--
		} else {
			victim.nlink--
		}
		victim.ctime = now
		fs.maybeFree(victim)
	}
	moved := src.n
	op.unlink(oldName)
	np.link(newName, moved)
	if moved.isDir() && op != np {
		op.nlink--
		np.nlink++
	}
	moved.ctime = now
	op.mtime, op.ctime, np.mtime, np.ctime = now, now, now, now
	return nil
}

// ReadDir lists directory handle fh from cookie off, calling emit for each
// entry until emit returns false. With plus set, each non-dot entry emit
// accepts counts one lookup (READDIRPLUS).
func (fs *FS) ReadDir(fh uint64, off uint64, plus bool, emit func(DirEntry) bool) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, ok := fs.handles[fh]
	if !ok {
		return unix.EBADF
	}
	if !h.dir {
		return unix.ENOTDIR
	}
	d := h.n
	if off < 1 && !emit(DirEntry{Name: ".", Off: 1, Attr: d.attr(), Dot: true}) {
		return nil
	}
	if off < 2 {
		parent := d.parent
		if parent == nil { // removed directory: report itself
			parent = d
		}
		if !emit(DirEntry{Name: "..", Off: 2, Attr: parent.attr(), Dot: true}) {
			return nil
		}
	}
	if d.dir == nil {
		return nil
	}
	ents := d.dir.entries
	i, _ := slices.BinarySearchFunc(ents, off+1, func(e *dirent, c uint64) int {
		switch {
		case e.cookie < c:
			return -1
		case e.cookie > c:
			return 1
		}
		return 0
	})
	for _, e := range ents[i:] {
		if !emit(DirEntry{Name: e.name, Off: e.cookie, Attr: e.n.attr()}) {
			return nil
		}
		if plus {
			e.n.nlookup++
		}
	}
	return nil
}

// Path returns the slash-separated path of node id relative to the root
// ("" for the root), or "" with false when the node is unknown or unlinked.
func (fs *FS) Path(id uint64) (string, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, ok := fs.nodes[id]
	if !ok {
		return "", false
	}
	var parts []string
	for n.id != RootID {
		if n.parent == nil {
			return "", false
		}
		parts = append(parts, n.name)
		n = n.parent
	}
	slices.Reverse(parts)
	return path.Join(parts...), true
}

// Access checks that node id exists; permissions are left to the kernel
// and the caller.
func (fs *FS) Access(id uint64) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	_, err := fs.get(id)
	return err
}

// StatFS reports node and byte totals.
func (fs *FS) StatFS() Stats {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return Stats{Nodes: uint64(len(fs.nodes)), Bytes: fs.bytes}
}
