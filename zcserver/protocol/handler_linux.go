package protocol

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/memfs"
)

// OpenInfo describes a file being opened, for an OpenPolicy.
type OpenInfo struct {
	Node   uint64
	Path   string // slash-separated, relative to the mount root
	Flags  uint32 // open(2) flags from fuse_open_in / fuse_create_in
	Create bool   // CREATE rather than OPEN
}

// OpenPolicy returns the FOPEN_* bits for an OPEN or CREATE reply, e.g.
// FOPEN_IO_URING_ZERO_COPY to opt a file into zero copy (ABI doc §4.2).
type OpenPolicy func(OpenInfo) uint32

// Config configures a Handler. The zero value is usable.
type Config struct {
	// MaxWrite is init_out.max_write; 0 means DefaultMaxWrite. It must be
	// in [4096, MaxMaxWrite].
	MaxWrite uint32
	// Ring asks for FUSE_OVER_IO_URING in the INIT reply; it is only
	// replied when the kernel offered it.
	Ring bool
	// NoReaddirPlus keeps FUSE_DO_READDIRPLUS out of the INIT reply.
	NoReaddirPlus bool
	// AbortError asks for FUSE_ABORT_ERROR in the INIT reply: after an
	// abort through fusectl the kernel then answers the server with
	// ECONNABORTED rather than ENODEV (reads) or ENOTCONN (ring commands).
	AbortError bool
	// EntryTimeout and AttrTimeout are the kernel cache lifetimes put into
	// entry and attribute replies; 0 means no caching.
	EntryTimeout, AttrTimeout time.Duration
	// OpenPolicy chooses FOPEN_* reply bits per file; nil means none.
	OpenPolicy OpenPolicy
	// OnFault receives every fault event. It is called synchronously from
	// the serving goroutine and must not block. nil drops faults (they are
	// still counted).
	OnFault func(Fault)
}

// Handler decodes, dispatches and encodes FUSE requests against a memfs.FS.
// It is safe for concurrent use by any number of transport goroutines.
type Handler struct {
	fs          *memfs.FS
	cfg         Config
	neg         negotiation
	payloadSize int
	init        atomic.Pointer[InitInfo]
	ctr         counters
}

// New returns a Handler serving fs. It checks the opcode table and cfg.
func New(fs *memfs.FS, cfg Config) (*Handler, error) {
	if _, err := table(); err != nil {
		return nil, err
	}
	if fs == nil {
		return nil, errors.New("protocol: nil filesystem")
	}
	if cfg.MaxWrite == 0 {
		cfg.MaxWrite = DefaultMaxWrite
	}
	if cfg.MaxWrite < 4096 || cfg.MaxWrite > MaxMaxWrite {
		return nil, fmt.Errorf("protocol: max_write %d outside [4096, %d]", cfg.MaxWrite, MaxMaxWrite)
	}
	page := uint32(os.Getpagesize())
	pages := max(fuseabi.FUSE_DEFAULT_MAX_PAGES_PER_REQ, (cfg.MaxWrite+page-1)/page)
	pages = min(pages, fuseabi.FUSE_DEFAULT_MAX_PAGES_LIMIT)
	h := &Handler{
		fs:  fs,
		cfg: cfg,
		neg: negotiation{
			maxWrite: cfg.MaxWrite, maxPages: uint16(pages), pageSize: page,
			ring: cfg.Ring, readdirPlus: !cfg.NoReaddirPlus, abortError: cfg.AbortError,
		},
	}
	h.payloadSize = int(max(fuseabi.FUSE_MIN_READ_BUFFER, cfg.MaxWrite, pages*page))
	return h, nil
}

// PayloadSize is the payload buffer size a transport must provide for
// replies (and, on a ring, for request payloads): an upper bound of the
// max_payload_sz INIT will negotiate.
func (h *Handler) PayloadSize() int { return h.payloadSize }

// DevReadSize is the read(2) buffer size a /dev/fuse transport needs: a
// full WRITE request plus room for names, and at least
// FUSE_MIN_READ_BUFFER.
func (h *Handler) DevReadSize() int {
	return max(fuseabi.FUSE_MIN_READ_BUFFER, h.payloadSize+4096)
}

// Init returns the INIT exchange once it completed.
func (h *Handler) Init() (InitInfo, bool) {
	if p := h.init.Load(); p != nil {
		return *p, true
	}
	return InitInfo{}, false
}

// FS returns the served tree.
func (h *Handler) FS() *memfs.FS { return h.fs }

// Counters returns a snapshot of the protocol counters.
func (h *Handler) Counters() Counters { return h.ctr.snapshot() }

// Fault records a fault event and passes it to Config.OnFault. Transports
// report their own faults (FaultTransport) through it.
func (h *Handler) Fault(f Fault) {
	h.ctr.faults.Add(1)
	if h.cfg.OnFault != nil {
		h.cfg.OnFault(f)
	}
}

func (h *Handler) fault(req *Request, kind FaultKind, err error) {
	h.Fault(Fault{Kind: kind, Opcode: req.Header.Opcode, Unique: req.Header.Unique, Queue: req.Queue, Err: err})
}

// Dispatch handles req, writing out-arguments into out (at least
// PayloadSize bytes). A READ or WRITE may come back pending (see
// Reply.Pending); every other reply is final. Dispatch never panics.
//
// out may be the very buffer req.Payload points into, as on a ring where
// one payload buffer carries the request in and the reply out: handlers
// consume the payload (names are copied, WRITE data is moved before
// Finish writes fuse_write_out) before writing out-arguments.
func (h *Handler) Dispatch(req *Request, out []byte) (rep Reply) {
	op := req.Header.Opcode
	h.ctr.request(op)
	info := lookupOp(op)
	rep = Reply{Unique: req.Header.Unique, Opcode: op}
	if info != nil {
		rep.NoReply = info.noReply
	}
	defer func() {
		if p := recover(); p != nil {
			h.Fault(Fault{
				Kind: FaultPanic, Opcode: op, Unique: req.Header.Unique, Queue: req.Queue,
				Err: fmt.Errorf("handler panic: %v", p), Stack: debug.Stack(),
			})
			rep = Reply{Unique: req.Header.Unique, Opcode: op, Status: EIO, NoReply: rep.NoReply}
		}
		h.account(&rep)
	}()
	if info == nil || info.handle == nil {
		rep.Status = ENOSYS
		return rep
	}
	if req.bad != nil {
		h.fault(req, FaultShortRequest, req.bad)
		rep.Status = EIO
		return rep
	}
	if len(req.OpIn) < info.opInSize {
		h.fault(req, FaultShortRequest, fmt.Errorf("op-in of %d bytes, %s needs %d", len(req.OpIn), info.name, info.opInSize))
		rep.Status = EIO
		return rep
	}
	// Request extensions (total_extlen) trail the in-arguments; we never
	// ask for any, but drop them if they come.
	if ext := int(req.Header.TotalExtlen) * 8; ext > 0 {
		if ext > len(req.Payload) {
			h.fault(req, FaultShortRequest, fmt.Errorf("extensions of %d bytes, payload %d", ext, len(req.Payload)))
			rep.Status = EIO
			return rep
		}
		req.Payload = req.Payload[:len(req.Payload)-ext]
	}
	if !(req.ZeroCopy && op == fuseabi.FUSE_WRITE) && !info.opInRest {
		// fuse_in_header.len covers every in-argument; a zero-copied WRITE
		// counts data that is not in Payload and is checked by opWrite.
		want := fuseabi.SizeofInHeader + info.opInSize + len(req.Payload) + int(req.Header.TotalExtlen)*8
		if int(req.Header.Len) != want {
			h.fault(req, FaultShortRequest, fmt.Errorf("fuse_in_header.len %d, pieces add up to %d", req.Header.Len, want))
			rep.Status = EIO
			return rep
		}
	}
	if len(out) < info.outSize {
		h.fault(req, FaultReplyBuffer, fmt.Errorf("payload buffer of %d bytes, %s replies %d", len(out), info.name, info.outSize))
		rep.Status = EIO
		return rep
	}
	if op != fuseabi.FUSE_INIT && h.init.Load() == nil {
		h.fault(req, FaultBeforeInit, errors.New("request before INIT"))
		rep.Status = EIO
		return rep
	}
	r := info.handle(h, req, out)
	r.Unique, r.Opcode, r.NoReply = rep.Unique, rep.Opcode, info.noReply
	return r
}

// account updates error counters for a final reply and normalises it.
func (h *Handler) account(rep *Reply) {
	if rep.Status == OK {
		return
	}
	rep.N = 0
	rep.Data = DataOp{}
	h.ctr.errors.Add(1)
	if rep.Status == ENOSYS {
		h.ctr.unimplemented.Add(1)
	}
}

// Copy moves d's bytes through the payload buffer: READ preads up to Len
// bytes into out (fewer at end of file), WRITE pwrites Src. It returns the
// byte count moved. out must hold Len bytes for a READ.
func (d *DataOp) Copy(out []byte) (int, error) {
	switch d.Kind {
	case DataRead:
		if len(out) < d.Len {
			return 0, fmt.Errorf("copy read: payload buffer %d bytes, need %d: %w", len(out), d.Len, unix.ENOBUFS)
		}
		done := 0
		for done < d.Len {
			n, err := unix.Pread(d.Fd, out[done:d.Len], d.Off+int64(done))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return done, fmt.Errorf("copy read: pread fd %d off %d: %w", d.Fd, d.Off+int64(done), err)
			}
			if n == 0 {
				break // end of file: a short read
			}
			done += n
		}
		return done, nil
	case DataWrite:
		if d.Src == nil && d.Len > 0 {
			return 0, fmt.Errorf("copy write: data was zero-copied, not in the payload: %w", unix.EINVAL)
		}
		done := 0
		for done < d.Len {
			n, err := unix.Pwrite(d.Fd, d.Src[done:d.Len], d.Off+int64(done))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return done, fmt.Errorf("copy write: pwrite fd %d off %d: %w", d.Fd, d.Off+int64(done), err)
			}
			done += n
		}
		return done, nil
	}
	return 0, nil
}

// Finish completes a pending reply after the transport moved the data. n
// is the byte count moved (READ: into out or into the zero-copy slot;
// WRITE: into the backing file), err a data movement failure, zeroCopy
// whether the bytes went through a fixed-buffer slot rather than out. A
// failed movement with n > 0 still succeeds as a short transfer.
func (h *Handler) Finish(rep Reply, n int, err error, zeroCopy bool, out []byte) (fin Reply) {
	d := rep.Data
	fin = Reply{Unique: rep.Unique, Opcode: rep.Opcode, NoReply: rep.NoReply}
	defer func() {
		if p := recover(); p != nil {
			h.Fault(Fault{
				Kind: FaultPanic, Opcode: rep.Opcode, Unique: rep.Unique, Queue: -1,
				Err: fmt.Errorf("finish panic: %v", p), Stack: debug.Stack(),
			})
			fin = Reply{Unique: rep.Unique, Opcode: rep.Opcode, Status: EIO}
		}
		h.account(&fin)
	}()
	if n < 0 || n > d.Len {
		h.Fault(Fault{Kind: FaultTransport, Opcode: rep.Opcode, Unique: rep.Unique, Queue: -1,
			Err: fmt.Errorf("%s moved %d bytes of %d", d.Kind, n, d.Len)})
		fin.Status = EIO
		return fin
	}
	if err != nil && n == 0 {
		fin.Status = StatusOf(err)
		return fin
	}
	switch d.Kind {
	case DataRead:
		if zeroCopy {
			h.ctr.zeroCopyReadBytes.Add(uint64(n))
		} else {
			h.ctr.copiedReadBytes.Add(uint64(n))
		}
		fin.N = n
	case DataWrite:
		if zeroCopy {
			h.ctr.zeroCopyWriteBytes.Add(uint64(n))
		} else {
			h.ctr.copiedWriteBytes.Add(uint64(n))
		}
		h.fs.Wrote(memfs.Extent{Fd: d.Fd, Off: d.Off, Len: d.Len, Node: d.node}, n)
		wo := fuseabi.WriteOut{Size: uint32(n)}
		fin.N = fuseabi.Store(out, &wo)
		if fin.N == 0 {
			fin.Status = EIO
		}
	default:
		fin.Status = EIO
	}
	return fin
}

// Serve handles req completely, copying READ/WRITE data through out. It is
// Dispatch, DataOp.Copy and Finish in one call, for transports that never
// zero-copy (/dev/fuse, ring queues without zero copy).
func (h *Handler) Serve(req *Request, out []byte) Reply {
	rep := h.Dispatch(req, out)
	if !rep.Pending() {
		return rep
	}
	if req.ZeroCopy {
		h.fault(req, FaultTransport, errors.New("Serve cannot move zero-copied data; use Dispatch and Finish"))
		return h.Finish(rep, 0, unix.EIO, false, out)
	}
	n, err := rep.Data.Copy(out)
	return h.Finish(rep, n, err, false, out)
}
