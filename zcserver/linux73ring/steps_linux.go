package linux73ring

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
)

// SetupStep is one FUSE io_uring command issued by the automatic setup or
// by a Driver step method, with its result.
type SetupStep struct {
	Qid   int // the command's qid
	Ring  int // the driver's queue (whose ring carried the command)
	Cmd   linux73.Cmd
	Flags uint64 // cmd_req.flags
	Entry int    // REGISTER: the entry index on its ring; -1 otherwise
	Err   error
}

func (s SetupStep) String() string {
	r := "ok"
	if s.Err != nil {
		r = s.Err.Error()
	}
	e := ""
	if s.Entry >= 0 {
		e = fmt.Sprintf(" entry=%d", s.Entry)
	}
	return fmt.Sprintf("ring %d: %s qid=%d flags=%#x%s: %s", s.Ring, s.Cmd, s.Qid, s.Flags, e, r)
}

func (d *Driver) logStep(qid uint16, op linux73.Cmd, flags uint64, ent int, err error) {
	d.t.setupMu.Lock()
	d.t.setupLog = append(d.t.setupLog, SetupStep{Qid: int(qid), Ring: d.qid, Cmd: op, Flags: flags, Entry: ent, Err: err})
	d.t.setupMu.Unlock()
}

// AddQueue issues FUSE_IO_URING_CMD_ADD_QUEUE(qid, flags) and returns its
// CQE result (ABI doc §3.1): nil, or an error matching the errno.
func (d *Driver) AddQueue(qid uint16, flags uint64) error {
	return d.call(func() error { return d.addQueue(qid, flags) })
}

func (d *Driver) addQueue(qid uint16, flags uint64) error {
	err := d.stepCmd(linux73.Command{Op: linux73.FUSE_IO_URING_CMD_ADD_QUEUE, Req: linux73.AddQueue(qid, flags)})
	d.logStep(qid, linux73.FUSE_IO_URING_CMD_ADD_QUEUE, flags, -1, err)
	if err != nil {
		return fmt.Errorf("add queue %d flags %#x: %w", qid, flags, err)
	}
	return nil
}

// BufpoolArgs are the fields of one ADD_BUFPOOL (ABI doc §3.2). Pool
// supplies uaddr and len unless Uaddr/Len are set; the raw fields let a
// spec send values the kernel must refuse.
type BufpoolArgs struct {
	Qid  uint16
	Pool *Pool
	// Uaddr and Len, when non-zero, replace the pool's address and length.
	Uaddr uint64
	Len   uint32
	// Fixed sets IORING_URING_CMD_FIXED with sqe.buf_index = BufIndex: a
	// registered pool.
	Fixed    bool
	BufIndex uint16
	// Flags is cmd_req.flags and Reserved bufpool.reserved; both must be 0.
	Flags    uint64
	Reserved uint32
	// AllowNull sends uaddr 0 (no Pool, no Uaddr) instead of failing with
	// ErrWouldCrash.
	AllowNull bool
}

// AddBufpool issues FUSE_IO_URING_CMD_ADD_BUFPOOL and returns its CQE
// result. On success with a Pool, later entries of a.Qid registered
// without a payload take their payload from it.
func (d *Driver) AddBufpool(a BufpoolArgs) error {
	return d.call(func() error { return d.addBufpool(a) })
}

func (d *Driver) addBufpool(a BufpoolArgs) error {
	uaddr, n := a.Uaddr, a.Len
	if a.Pool != nil {
		if uaddr == 0 {
			uaddr = a.Pool.Addr()
		}
		if n == 0 {
			n = uint32(len(a.Pool.Buf))
		}
	}
	if uaddr == 0 && !a.AllowNull {
		return ErrWouldCrash
	}
	c := linux73.CmdReq{Qid: a.Qid, Flags: a.Flags}
	c.SetBufpool(linux73.Bufpool{Uaddr: uaddr, Len: n, Reserved: a.Reserved})
	err := d.stepCmd(linux73.Command{Op: linux73.FUSE_IO_URING_CMD_ADD_BUFPOOL, Req: c, Fixed: a.Fixed, BufIndex: a.BufIndex})
	d.logStep(a.Qid, linux73.FUSE_IO_URING_CMD_ADD_BUFPOOL, a.Flags, -1, err)
	if err != nil {
		return fmt.Errorf("add bufpool qid %d (uaddr %#x len %d fixed=%v buf_index %d): %w", a.Qid, uaddr, n, a.Fixed, a.BufIndex, err)
	}
	if a.Pool != nil {
		d.pools[a.Qid] = poolUse{pool: a.Pool, fixed: a.Fixed, bufIndex: a.BufIndex}
	}
	return nil
}

// NewPool maps a pool of bufs buffers of BufSize bytes.
func (d *Driver) NewPool(bufs int) (*Pool, error) {
	var p *Pool
	err := d.call(func() (err error) { p, err = d.newPool(bufs); return err })
	return p, err
}

func (d *Driver) newPool(bufs int) (*Pool, error) {
	if bufs < 1 {
		return nil, fmt.Errorf("zcserver: pool of %d buffers", bufs)
	}
	b, err := d.mmap(bufs * d.bufSize)
	if err != nil {
		return nil, err
	}
	return &Pool{Buf: b, BufSize: d.bufSize}, nil
}

// BufferTable registers a sparse fixed-buffer table of n slots on the ring
// (IORING_REGISTER_BUFFERS2 with IORING_RSRC_REGISTER_SPARSE, ABI doc §4.1
// step 3).
func (d *Driver) BufferTable(n uint32) error {
	return d.call(func() error {
		if err := d.ring.RegisterBuffersSparse(n); err != nil {
			return err
		}
		d.table = n
		return nil
	})
}

// PutBuffer installs buf in slot of the ring's buffer table
// (IORING_REGISTER_BUFFERS_UPDATE); nil empties the slot. buf must stay
// mapped for the ring's life (a Pool's Buf does).
func (d *Driver) PutBuffer(slot uint16, buf []byte) error {
	return d.call(func() error {
		_, err := d.ring.UpdateBuffers(uint32(slot), [][]byte{buf})
		return err
	})
}

// RegisterArgs are the fields of one REGISTER (ABI doc §3.3).
type RegisterArgs struct {
	Qid uint16
	// Header is iov[0]; nil takes 288 bytes from the driver. A header
	// shorter than 288 bytes can be sent (HeaderLen) but never served.
	Header []byte
	// Payload is iov[1], the per-entry payload; nil sends {NULL, 0}, the
	// pool form, unless AllocPayload asks the driver for BufSize bytes.
	Payload      []byte
	AllocPayload bool
	// ZeroCopyIndex is ent_zero_copy_buf_index (non-zero only on a
	// zero-copy queue, else EINVAL).
	ZeroCopyIndex uint16
	// Fixed sets IORING_URING_CMD_FIXED with sqe.buf_index = BufIndex (a
	// registered pool). The entry's COMMITs repeat both.
	Fixed    bool
	BufIndex uint16

	// Raw overrides. HeaderLen and PayloadLen, when > 0, replace the
	// iovec lengths; SQELen, when non-zero, replaces sqe.len (2); RawIovs,
	// when non-nil, is sent verbatim as the iovec array (the caller keeps
	// its memory valid; the entry cannot be served).
	HeaderLen  int
	PayloadLen int
	SQELen     uint32
	RawIovs    *[2]unix.Iovec
}

// Register issues FUSE_IO_URING_CMD_REGISTER and reports the kernel's
// immediate answer. A successful REGISTER posts no CQE until a request is
// delivered to the entry; a refused one posts its error CQE before
// io_uring_enter returns, because the command is issued inline during the
// submission. So Register submits, then looks at the CQEs already posted:
// an error CQE for this entry is returned (matching the errno, and the
// entry is ended); no CQE (or a delivery) means the kernel accepted the
// entry, and the returned Entry is waiting. The one exception is a
// command the kernel punts to io-wq (e.g. -EAGAIN before INIT completed,
// ABI doc §1.3): its CQE arrives later and shows in Entry.Err.
//
// Remember that any REGISTER error disables io_uring on the connection
// (ABI doc §3.3, §7 H3).
func (d *Driver) Register(a RegisterArgs) (*Entry, error) {
	var e *Entry
	err := d.call(func() (err error) { e, err = d.register(a); return err })
	return e, err
}

func (d *Driver) register(a RegisterArgs) (*Entry, error) {
	e := &Entry{d: d, index: len(d.ents), Qid: a.Qid, ZeroCopySlot: a.ZeroCopyIndex, Fixed: a.Fixed, BufIndex: a.BufIndex}
	hdr := a.Header
	if hdr == nil {
		var err error
		if hdr, err = d.header(); err != nil {
			return nil, err
		}
	}
	payload := a.Payload
	if payload == nil && a.AllocPayload {
		var err error
		if payload, err = d.mmap(d.bufSize); err != nil {
			return nil, err
		}
	}
	var iov []unix.Iovec
	if a.RawIovs != nil {
		raw := *a.RawIovs
		iov = raw[:]
	} else {
		iov = linux73.EntryIovecs(hdr, payload)
		if a.HeaderLen > 0 {
			iov[0].SetLen(a.HeaderLen)
		}
		if a.PayloadLen > 0 {
			iov[1].SetLen(a.PayloadLen)
		}
		if len(hdr) >= linux73.SizeofReqHeader {
			e.hdr = (*linux73.ReqHeader)(unsafe.Pointer(&hdr[0]))
			e.payload = payload
			if payload == nil {
				if pu, ok := d.pools[a.Qid]; ok {
					e.pool = pu.pool
				}
			}
		}
	}
	c := linux73.Command{Op: linux73.FUSE_IO_URING_CMD_REGISTER, Req: linux73.Register(a.Qid, a.ZeroCopyIndex),
		Iov: iov, Fixed: a.Fixed, BufIndex: a.BufIndex}
	if a.SQELen != 0 {
		c.IovLen = &a.SQELen
	}
	sqe, err := d.prepCmd(c, udEntry|uint64(e.index))
	if err != nil {
		return nil, err
	}
	if d.sqeHook != nil {
		d.sqeHook(linux73.FUSE_IO_URING_CMD_REGISTER, sqe)
	}
	e.served = d.serving && e.hdr != nil
	e.setState(EntryWaiting)
	d.ents = append(d.ents, e)
	_, err = d.ring.Submit()
	runtime.KeepAlive(iov)
	runtime.KeepAlive(a)
	if err != nil {
		e.end(err)
		return e, err
	}
	d.drain()
	err = e.Err()
	d.logStep(a.Qid, linux73.FUSE_IO_URING_CMD_REGISTER, 0, e.index, err)
	if err != nil {
		return e, fmt.Errorf("register entry %d on qid %d: %w", e.index, a.Qid, err)
	}
	return e, nil
}

// Setup runs the configured mode's setup for this driver's queue (ABI doc
// §4.1): a sparse buffer table when the mode needs slots (one zero-copy
// slot per entry, then the pool's), ADD_QUEUE (when the kernel has the
// 7.46 ABI; FUSE_URING_ZERO_COPY in ModeRingZeroCopy), ADD_BUFPOOL in the
// pool modes (registered in its slot first for ModeRingPoolRegistered),
// then QueueDepth REGISTERs. Fault knobs apply. It does not start
// serving: call Serve.
func (d *Driver) Setup() error {
	return d.call(d.setup)
}

func (d *Driver) setup() error {
	s := d.t
	info, _ := s.h.Init()
	plan, err := s.Plan(d.qid, uint32(d.bufSize), features.HaveBufPool(info) == nil)
	if err != nil {
		return err
	}
	if plan.TableSlots > 0 && d.table == 0 {
		if err := d.ring.RegisterBuffersSparse(plan.TableSlots); err != nil {
			return err
		}
		d.table = plan.TableSlots
	}
	if plan.AddQueue {
		if err := d.addQueue(plan.Qid, plan.AddQueueFlags); err != nil {
			return err
		}
	}
	if plan.SecondAddQueue {
		// Expected to fail; the result is in the setup log.
		_ = d.addQueue(plan.Qid, plan.SecondAddQueueFlags)
	}
	if plan.Pool {
		pool, err := d.newPool(plan.PoolBufs)
		if err != nil {
			return err
		}
		if plan.PoolFixed {
			if _, err := d.ring.UpdateBuffers(uint32(plan.PoolSlot), [][]byte{pool.Buf}); err != nil {
				return err
			}
		}
		if err := d.addBufpool(BufpoolArgs{Qid: plan.Qid, Pool: pool, Fixed: plan.PoolFixed, BufIndex: plan.PoolIndex}); err != nil {
			return err
		}
	}
	for _, ep := range plan.Entries {
		_, err := d.register(RegisterArgs{
			Qid: plan.Qid, AllocPayload: ep.PayloadLen > 0, ZeroCopyIndex: ep.ZeroCopyIndex,
			Fixed: ep.Fixed, BufIndex: ep.BufIndex,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Serve starts serving: every entry registered through this driver (and
// every entry registered later) is answered by the server's handler, with
// the configured fault knobs. Requests already delivered and not yet
// answered (see Await) are served now, and Await gets nothing more.
func (d *Driver) Serve() error {
	return d.call(func() error {
		d.serving = true
		for len(d.deliveries) > 0 {
			<-d.deliveries
		}
		for _, e := range d.ents {
			if e.hdr == nil || e.served {
				continue
			}
			e.served = true
			if e.State() == EntryDelivered {
				d.handle(e)
			}
		}
		return nil
	})
}

// ProbeSlot issues a READ_FIXED (write false) or WRITE_FIXED (write true)
// of n bytes between the ring's scratch memfd (at offset 0) and slot of
// the buffer table, at buffer address 0, and returns the CQE res: the byte
// count, or an error matching the errno (EFAULT: nothing registered in
// the slot, or the wrong direction for a zero-copy buffer, ABI doc §4.4,
// §4.f). Address 0 is the start of a kernel (zero-copy) buffer; a user
// buffer in the slot is addressed by user address, so the probe gets
// EFAULT there too. A successful READ_FIXED writes into the slot's pages.
func (d *Driver) ProbeSlot(slot uint16, write bool, n uint32) (int32, error) {
	var res int32
	err := d.call(func() error {
		if n > scratchSize {
			return fmt.Errorf("zcserver: probe of %d bytes exceeds the %d-byte scratch file", n, scratchSize)
		}
		d.seq++
		seq := d.seq
		sqe, err := d.nextSQE()
		if err != nil {
			return err
		}
		if write {
			sqe.PrepWriteFixed(int32(d.scratch), 0, n, 0, slot)
		} else {
			sqe.PrepReadFixed(int32(d.scratch), 0, n, 0, slot)
		}
		sqe.UserData = udStep | uint64(seq)
		c, err := d.submitWaitStep(seq)
		if err != nil {
			return err
		}
		res = c.Res
		if err := c.Err(); err != nil {
			op := "READ_FIXED"
			if write {
				op = "WRITE_FIXED"
			}
			return fmt.Errorf("%s of %d bytes on slot %d: %w", op, n, slot, err)
		}
		return nil
	})
	return res, err
}

// DropCapSysAdmin clears CAP_SYS_ADMIN from the ring thread's effective
// set (the rest of the process keeps it).
func (d *Driver) DropCapSysAdmin() error {
	return d.call(func() error { return rawring.SetThreadCap(unix.CAP_SYS_ADMIN, false) })
}

// RaiseCapSysAdmin sets CAP_SYS_ADMIN in the ring thread's effective set
// again (it stays permitted after DropCapSysAdmin).
func (d *Driver) RaiseCapSysAdmin() error {
	return d.call(func() error { return rawring.SetThreadCap(unix.CAP_SYS_ADMIN, true) })
}

// ThreadCapEff returns the ring thread's effective capability set.
func (d *Driver) ThreadCapEff() (uint64, error) {
	var v uint64
	err := d.call(func() (err error) { v, err = rawring.ThreadCapEff(); return err })
	return v, err
}

// RegisterPersonality records the ring thread's current credentials as an
// io_uring personality and returns its id.
func (d *Driver) RegisterPersonality() (uint16, error) {
	var id uint16
	err := d.call(func() (err error) { id, err = d.ring.RegisterPersonality(); return err })
	return id, err
}

// UsePersonality makes every later FUSE command SQE of this ring carry
// personality id (0: none).
func (d *Driver) UsePersonality(id uint16) error {
	return d.call(func() error { d.personality = id; return nil })
}

// Entries returns the entries registered through this driver, by index.
func (d *Driver) Entries() []*Entry {
	var out []*Entry
	d.call(func() error { out = append(out, d.ents...); return nil })
	return out
}

// Err returns the error that stopped the driver's loop, if any.
func (d *Driver) Err() error {
	select {
	case <-d.exited:
		return d.err
	default:
		return nil
	}
}
