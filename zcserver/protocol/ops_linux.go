package protocol

import (
	"bytes"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/memfs"
)

func done(n int) Reply       { return Reply{N: n} }
func failed(err error) Reply { return Reply{Status: StatusOf(err)} }

// badRequest answers a malformed request with EIO and a fault.
func (h *Handler) badRequest(req *Request, format string, args ...any) Reply {
	h.fault(req, FaultBadRequest, fmt.Errorf(format, args...))
	return Reply{Status: EIO}
}

// names splits a payload of n NUL-terminated strings.
func names(b []byte, n int) ([]string, bool) {
	out := make([]string, 0, n)
	for range n {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return nil, false
		}
		out = append(out, string(b[:i]))
		b = b[i+1:]
	}
	return out, true
}

func splitDuration(d time.Duration) (uint64, uint32) {
	if d <= 0 {
		return 0, 0
	}
	return uint64(d / time.Second), uint32(d % time.Second)
}

func wireTime(t time.Time) (uint64, uint32) {
	if t.IsZero() || t.Unix() < 0 {
		return 0, 0
	}
	return uint64(t.Unix()), uint32(t.Nanosecond())
}

func wireAttr(a memfs.Attr) fuseabi.Attr {
	w := fuseabi.Attr{
		Ino: a.Ino, Size: a.Size, Blocks: a.Blocks,
		Mode: a.Mode, Nlink: a.Nlink, UID: a.UID, GID: a.GID,
		Blksize: memfs.BlockSize,
	}
	w.Atime, w.Atimensec = wireTime(a.Atime)
	w.Mtime, w.Mtimensec = wireTime(a.Mtime)
	w.Ctime, w.Ctimensec = wireTime(a.Ctime)
	return w
}

func (h *Handler) entryOut(a memfs.Attr) fuseabi.EntryOut {
	e := fuseabi.EntryOut{NodeID: a.Ino, Generation: memfs.Generation, Attr: wireAttr(a)}
	e.EntryValid, e.EntryValidNsec = splitDuration(h.cfg.EntryTimeout)
	e.AttrValid, e.AttrValidNsec = splitDuration(h.cfg.AttrTimeout)
	return e
}

func (h *Handler) putEntry(out []byte, a memfs.Attr) Reply {
	e := h.entryOut(a)
	return done(fuseabi.Store(out, &e))
}

func (h *Handler) putAttr(out []byte, a memfs.Attr) Reply {
	o := fuseabi.AttrOut{Attr: wireAttr(a)}
	o.AttrValid, o.AttrValidNsec = splitDuration(h.cfg.AttrTimeout)
	return done(fuseabi.Store(out, &o))
}

func owner(req *Request) memfs.Owner {
	return memfs.Owner{UID: req.Header.UID, GID: req.Header.GID}
}

func (h *Handler) openFlags(node uint64, flags uint32, create bool) uint32 {
	if h.cfg.OpenPolicy == nil {
		return 0
	}
	p, _ := h.fs.Path(node)
	return h.cfg.OpenPolicy(OpenInfo{Node: node, Path: p, Flags: flags, Create: create})
}

func (h *Handler) opInit(req *Request, out []byte) Reply {
	if _, ok := h.Init(); ok {
		return h.badRequest(req, "second INIT")
	}
	compat := len(req.OpIn) < fuseabi.SizeofInitIn
	var in fuseabi.InitIn
	if compat {
		buf := make([]byte, fuseabi.SizeofInitIn)
		copy(buf, req.OpIn)
		in, _ = fuseabi.Load[fuseabi.InitIn](buf)
	} else {
		in, _ = fuseabi.Load[fuseabi.InitIn](req.OpIn)
	}
	o, info, err := h.neg.negotiate(in, compat)
	if err != nil {
		h.fault(req, FaultProtocol, err)
		return Reply{Status: EPROTO}
	}
	if !h.init.CompareAndSwap(nil, &info) {
		return h.badRequest(req, "concurrent INIT")
	}
	return done(fuseabi.Store(out, &o))
}

func (h *Handler) opOK(*Request, []byte) Reply      { return Reply{} }
func (h *Handler) opNoReply(*Request, []byte) Reply { return Reply{} }
func (h *Handler) opENOSYS(*Request, []byte) Reply  { return Reply{Status: ENOSYS} }

func (h *Handler) opLookup(req *Request, out []byte) Reply {
	n, ok := names(req.Payload, 1)
	if !ok {
		return h.badRequest(req, "LOOKUP name without NUL")
	}
	a, err := h.fs.Lookup(req.Header.NodeID, n[0])
	if err != nil {
		return failed(err)
	}
	return h.putEntry(out, a)
}

func (h *Handler) opForget(req *Request, _ []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.ForgetIn](req.OpIn)
	h.fs.Forget(req.Header.NodeID, in.Nlookup)
	return Reply{}
}

func (h *Handler) opBatchForget(req *Request, _ []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.BatchForgetIn](req.OpIn)
	need := int(in.Count) * fuseabi.SizeofForgetOne
	if in.Count > 1<<20 || len(req.Payload) < need {
		return h.badRequest(req, "BATCH_FORGET count %d, payload %d bytes", in.Count, len(req.Payload))
	}
	for i := range int(in.Count) {
		f, _ := fuseabi.Load[fuseabi.ForgetOne](req.Payload[i*fuseabi.SizeofForgetOne:])
		h.fs.Forget(f.NodeID, f.Nlookup)
	}
	return Reply{}
}

func (h *Handler) opGetattr(req *Request, out []byte) Reply {
	a, err := h.fs.GetAttr(req.Header.NodeID)
	if err != nil {
		return failed(err)
	}
	return h.putAttr(out, a)
}

func (h *Handler) opSetattr(req *Request, out []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.SetattrIn](req.OpIn)
	const kept = fuseabi.FATTR_MODE | fuseabi.FATTR_UID | fuseabi.FATTR_GID | fuseabi.FATTR_SIZE |
		fuseabi.FATTR_ATIME | fuseabi.FATTR_MTIME | fuseabi.FATTR_CTIME
	s := memfs.SetAttr{
		Valid: in.Valid & kept,
		Mode:  in.Mode, UID: in.UID, GID: in.GID, Size: in.Size,
		Atime: time.Unix(int64(in.Atime), int64(in.Atimensec)),
		Mtime: time.Unix(int64(in.Mtime), int64(in.Mtimensec)),
		Ctime: time.Unix(int64(in.Ctime), int64(in.Ctimensec)),
	}
	now := time.Now()
	if in.Valid&fuseabi.FATTR_ATIME_NOW != 0 {
		s.Valid |= fuseabi.FATTR_ATIME
		s.Atime = now
	}
	if in.Valid&fuseabi.FATTR_MTIME_NOW != 0 {
		s.Valid |= fuseabi.FATTR_MTIME
		s.Mtime = now
	}
	a, err := h.fs.SetAttr(req.Header.NodeID, s)
	if err != nil {
		return failed(err)
	}
	return h.putAttr(out, a)
}

func (h *Handler) opAccess(req *Request, _ []byte) Reply {
	return failed(h.fs.Access(req.Header.NodeID))
}

func (h *Handler) opMknod(req *Request, out []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.MknodIn](req.OpIn)
	n, ok := names(req.Payload, 1)
	if !ok {
		return h.badRequest(req, "MKNOD name without NUL")
	}
	a, err := h.fs.Mknod(req.Header.NodeID, n[0], in.Mode, owner(req))
	if err != nil {
		return failed(err)
	}
	return h.putEntry(out, a)
}

func (h *Handler) opMkdir(req *Request, out []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.MkdirIn](req.OpIn)
	n, ok := names(req.Payload, 1)
	if !ok {
		return h.badRequest(req, "MKDIR name without NUL")
	}
	a, err := h.fs.Mkdir(req.Header.NodeID, n[0], in.Mode, owner(req))
	if err != nil {
		return failed(err)
	}
	return h.putEntry(out, a)
}

func (h *Handler) opUnlink(req *Request, _ []byte) Reply {
	n, ok := names(req.Payload, 1)
	if !ok {
		return h.badRequest(req, "UNLINK name without NUL")
	}
	return failed(h.fs.Unlink(req.Header.NodeID, n[0]))
}

func (h *Handler) opRmdir(req *Request, _ []byte) Reply {
	n, ok := names(req.Payload, 1)
	if !ok {
		return h.badRequest(req, "RMDIR name without NUL")
	}
	return failed(h.fs.Rmdir(req.Header.NodeID, n[0]))
}

func (h *Handler) opRename(req *Request, _ []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.RenameIn](req.OpIn)
	n, ok := names(req.Payload, 2)
	if !ok {
		return h.badRequest(req, "RENAME names without NUL")
	}
	return failed(h.fs.Rename(req.Header.NodeID, n[0], in.Newdir, n[1], 0))
}

func (h *Handler) opRename2(req *Request, _ []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.Rename2In](req.OpIn)
	n, ok := names(req.Payload, 2)
	if !ok {
		return h.badRequest(req, "RENAME2 names without NUL")
	}
	return failed(h.fs.Rename(req.Header.NodeID, n[0], in.Newdir, n[1], in.Flags))
}

func (h *Handler) opOpen(req *Request, out []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.OpenIn](req.OpIn)
	fh, err := h.fs.Open(req.Header.NodeID, in.Flags)
	if err != nil {
		return failed(err)
	}
	o := fuseabi.OpenOut{Fh: fh, OpenFlags: h.openFlags(req.Header.NodeID, in.Flags, false)}
	return done(fuseabi.Store(out, &o))
}

func (h *Handler) opCreate(req *Request, out []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.CreateIn](req.OpIn)
	n, ok := names(req.Payload, 1)
	if !ok {
		return h.badRequest(req, "CREATE name without NUL")
	}
	a, fh, err := h.fs.Create(req.Header.NodeID, n[0], in.Mode, in.Flags, owner(req))
	if err != nil {
		return failed(err)
	}
	e := h.entryOut(a)
	o := fuseabi.OpenOut{Fh: fh, OpenFlags: h.openFlags(a.Ino, in.Flags, true)}
	k := fuseabi.Store(out, &e)
	k += fuseabi.Store(out[k:], &o)
	return done(k)
}

func (h *Handler) opRead(req *Request, _ []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.ReadIn](req.OpIn)
	size := min(in.Size, uint32(h.payloadSize))
	e, err := h.fs.ReadExtent(in.Fh, in.Offset, size)
	if err != nil {
		return failed(err)
	}
	if e.Len == 0 {
		return done(0) // at or past EOF: nothing to move
	}
	return Reply{Data: DataOp{Kind: DataRead, Fd: e.Fd, Off: e.Off, Len: e.Len, node: e.Node}}
}

func (h *Handler) opWrite(req *Request, out []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.WriteIn](req.OpIn)
	if int(in.Size) > h.payloadSize {
		return h.badRequest(req, "WRITE of %d bytes exceeds the %d-byte payload", in.Size, h.payloadSize)
	}
	var src []byte
	if req.ZeroCopy {
		want := fuseabi.SizeofInHeader + fuseabi.SizeofWriteIn + int(in.Size) + int(req.Header.TotalExtlen)*8
		if int(req.Header.Len) != want {
			h.fault(req, FaultShortRequest, fmt.Errorf("zero-copied WRITE: fuse_in_header.len %d, want %d", req.Header.Len, want))
			return Reply{Status: EIO}
		}
	} else {
		if len(req.Payload) != int(in.Size) {
			h.fault(req, FaultShortRequest, fmt.Errorf("WRITE size %d, payload %d bytes", in.Size, len(req.Payload)))
			return Reply{Status: EIO}
		}
		src = req.Payload
	}
	e, err := h.fs.WriteExtent(in.Fh, in.Offset, in.Size)
	if err != nil {
		return failed(err)
	}
	if e.Len == 0 {
		wo := fuseabi.WriteOut{}
		return done(fuseabi.Store(out, &wo))
	}
	return Reply{Data: DataOp{Kind: DataWrite, Fd: e.Fd, Off: e.Off, Len: e.Len, Src: src, node: e.Node}}
}

func (h *Handler) opRelease(req *Request, _ []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.ReleaseIn](req.OpIn)
	return failed(h.fs.Release(in.Fh))
}

func (h *Handler) opOpendir(req *Request, out []byte) Reply {
	in, _ := fuseabi.Load[fuseabi.OpenIn](req.OpIn)
	fh, err := h.fs.OpenDir(req.Header.NodeID, in.Flags)
	if err != nil {
		return failed(err)
	}
	o := fuseabi.OpenOut{Fh: fh}
	return done(fuseabi.Store(out, &o))
}

func direntType(mode uint32) uint32 { return (mode & unix.S_IFMT) >> 12 }

func (h *Handler) opReaddir(req *Request, out []byte) Reply {
	return h.readdir(req, out, false)
}

func (h *Handler) opReaddirplus(req *Request, out []byte) Reply {
	return h.readdir(req, out, true)
}

func (h *Handler) readdir(req *Request, out []byte, plus bool) Reply {
	in, _ := fuseabi.Load[fuseabi.ReadIn](req.OpIn)
	buf := out[:min(int(in.Size), len(out))]
	k := 0
	err := h.fs.ReadDir(in.Fh, in.Offset, plus, func(e memfs.DirEntry) bool {
		d := fuseabi.Dirent{Ino: e.Attr.Ino, Off: e.Off, Type: direntType(e.Attr.Mode)}
		var n int
		if plus {
			dp := fuseabi.Direntplus{Dirent: d}
			if !e.Dot {
				dp.EntryOut = h.entryOut(e.Attr)
			}
			n = fuseabi.PutDirentplus(buf[k:], dp, e.Name)
		} else {
			n = fuseabi.PutDirent(buf[k:], d, e.Name)
		}
		k += n
		return n > 0
	})
	if err != nil {
		return failed(err)
	}
	return done(k)
}

func (h *Handler) opStatfs(_ *Request, out []byte) Reply {
	st := h.fs.StatFS()
	const blocks, files = 1 << 24, 1 << 20 // 64 GiB of 4 KiB blocks, 1 Mi nodes
	used := min((st.Bytes+memfs.BlockSize-1)/memfs.BlockSize, blocks)
	o := fuseabi.StatfsOut{St: fuseabi.Kstatfs{
		Blocks: blocks, Bfree: blocks - used, Bavail: blocks - used,
		Files: files, Ffree: files - min(st.Nodes, files),
		Bsize: memfs.BlockSize, Frsize: memfs.BlockSize, Namelen: memfs.NameMax,
	}}
	return done(fuseabi.Store(out, &o))
}
