package zcserver

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Errors of the ring layer.
var (
	// ErrRingClosed: the ring driver stopped (Close, or a fatal ring
	// error); its methods can no longer run.
	ErrRingClosed = errors.New("zcserver: ring driver stopped")
	// ErrRingSetup wraps every failure of the automatic ring setup in
	// Start, together with the command's errno.
	ErrRingSetup = errors.New("zcserver: ring setup failed")
	// ErrWouldCrash: the step would hand the kernel a NULL payload
	// address, which crashes Linux 7.3 (ABI doc §7 H1). Set
	// BufpoolArgs.AllowNull in a disposable VM to send it anyway.
	ErrWouldCrash = errors.New("zcserver: NULL payload address crashes the kernel (ABI doc §7 H1)")
)

// user_data of the ring's SQEs: the kind in the top byte, an entry index
// or a sequence number below. Kind 0 is left to RingThread users; the
// executor's wake-up CQE (rawring.UserDataWake, bit 62) is a kind of its
// own.
const (
	udKindShift        = 56
	udKindMask  uint64 = 0xff << udKindShift
	udUser      uint64 = 0 << udKindShift // RingThread.Submit callers
	udEntry     uint64 = 1 << udKindShift // REGISTER / COMMIT_AND_FETCH of entry N
	udData      uint64 = 2 << udKindShift // READ_FIXED/WRITE_FIXED moving entry N's data
	udProbe     uint64 = 3 << udKindShift // ProbeSlotAfterCommit probe of entry N
	udStep      uint64 = 5 << udKindShift // a stepping command, by sequence number
)

// deliveryBuffer bounds the deliveries a driver queues for Await.
const deliveryBuffer = 1024

// scratchSize is the size of each driver's scratch memfd, the file side of
// slot probes.
const scratchSize = 64 << 10

// RingDriver owns one io_uring ring (SQE128) on rawring's locked-thread
// executor: the thread is locked before the ring exists and never
// unlocked (so a credential change stays confined to a thread that dies
// with it). The driver's loop runs there for the ring's whole life,
// running posted calls between CQEs (a post wakes it with the executor's
// Wake); it issues every command of the ring, so each entry's REGISTER
// and COMMITs stay on one ring (ABI doc §7 H5), and it never touches the
// FUSE mount.
//
// Every method may be called from any goroutine: it runs on the ring's
// thread and returns when done. Command methods return the command's CQE
// errno as a typed error (errors.Is(err, unix.EPERM)).
//
// In automatic ring modes Start creates one driver per queue (qid = CPU),
// runs Setup and Serve on each; Server.Ring returns them. With
// Config.ManualRing (or Config.RingInit) nothing is set up: Server.Ring
// creates the driver of a qid on first use and a spec steps through the
// setup itself (AddQueue, AddBufpool, Register, ...) and then calls Serve,
// or answers requests one by one with Await and Answer.
type RingDriver struct {
	srv *Server
	qid int
	q   *queueCounters

	rt     *rawring.Ring // the locked-thread executor the loop runs on
	mu     sync.Mutex    // guards queued, closed and the wake-ups of post
	queued []func()
	closed bool
	exited chan struct{}

	deliveries chan *Delivery

	// Everything below is owned by the ring thread.
	ring        *uring.Ring
	bufSize     int
	ents        []*Entry
	serving     bool
	stop        bool
	freeMem     bool
	seq         uint32
	steps       map[uint32]uring.CQE
	userCQEs    map[uint64]uring.CQE
	pools       map[uint16]poolUse
	personality uint16
	knobDropped bool
	table       uint32
	mem         [][]byte // mmaps, unmapped at exit when safe
	hdrSlab     []byte
	scratch     int
	scratchOut  []byte
	err         error // the loop's fatal error

	// sqeHook, set by tests only, sees each FUSE command SQE of a step or
	// REGISTER right before it is submitted.
	sqeHook func(op linux73.Cmd, sqe *uring.SQE)
}

// poolUse is the pool a qid's entries take their payload from.
type poolUse struct {
	pool     *Pool
	fixed    bool
	bufIndex uint16
}

// Pool is a payload buffer pool for ADD_BUFPOOL: Bufs buffers of BufSize
// (= max_payload_sz) bytes each, in one anonymous mapping owned by the
// driver that made it.
type Pool struct {
	Buf     []byte
	BufSize int
}

// Addr is the pool's base address (bufpool.uaddr).
func (p *Pool) Addr() uint64 { return uint64(uintptr(unsafe.Pointer(&p.Buf[0]))) }

// Bufs is the number of whole buffers in the pool.
func (p *Pool) Bufs() int { return len(p.Buf) / p.BufSize }

// newRingDriver starts the ring goroutine for qid and waits for its ring.
func newRingDriver(s *Server, qid int) (*RingDriver, error) {
	info, _ := s.h.Init()
	d := &RingDriver{
		srv:        s,
		qid:        qid,
		q:          &queueCounters{transport: TransportRing, queue: qid},
		scratch:    -1,
		exited:     make(chan struct{}),
		deliveries: make(chan *Delivery, deliveryBuffer),
		steps:      map[uint32]uring.CQE{},
		userCQEs:   map[uint64]uring.CQE{},
		pools:      map[uint16]poolUse{},
		bufSize:    int(info.MaxPayloadSz),
	}
	if d.bufSize == 0 {
		d.bufSize = s.h.PayloadSize()
	}
	rt, err := rawring.Start(rawring.Config{
		Name:    fmt.Sprintf("zcserver: ring of queue %d", qid),
		Entries: uint32(4*s.cfg.QueueDepth + 32),
		Options: []uring.Option{uring.WithSQE128()},
		Setup:   d.init,
	})
	if err != nil {
		d.cleanup(true)
		return nil, fmt.Errorf("zcserver: ring of queue %d: %w", qid, err)
	}
	d.rt = rt
	go d.run()
	return d, nil
}

// Qid is the queue this driver was created for.
func (d *RingDriver) Qid() int { return d.qid }

// BufSize is max_payload_sz as negotiated at INIT: the per-entry payload
// and pool buffer size.
func (d *RingDriver) BufSize() int { return d.bufSize }

// run keeps the loop on the executor's thread until shutdown, then ends
// the executor (which closes the ring) and frees what the driver owns.
func (d *RingDriver) run() {
	defer close(d.exited)
	if err := d.rt.Do(context.Background(), func(context.Context) error { d.loop(); return nil }); err != nil && d.err == nil {
		// A panic on the ring thread: the server must not go on quietly.
		d.err = err
		d.srv.h.Fault(Fault{Kind: protocol.FaultTransport, Queue: d.qid, Err: err})
	}
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	if err := d.rt.Close(); err != nil && d.err == nil {
		d.err = err
	}
	d.cleanup(d.freeMem)
}

// init runs on the ring thread once the ring exists (rawring.Config.Setup).
func (d *RingDriver) init(th *rawring.Thread) error {
	d.ring = th.Uring()
	var err error
	if d.scratch, err = unix.MemfdCreate("zcserver-probe", unix.MFD_CLOEXEC); err != nil {
		return fmt.Errorf("memfd_create: %w", err)
	}
	if err := unix.Ftruncate(d.scratch, scratchSize); err != nil {
		return fmt.Errorf("ftruncate scratch memfd: %w", err)
	}
	if d.scratchOut, err = d.mmap(d.bufSize); err != nil {
		return err
	}
	switch d.srv.cfg.Faults.Personality {
	case PersonalityCapable:
		d.personality, err = d.ring.RegisterPersonality()
	case PersonalityDropped:
		if err = rawring.SetThreadCap(unix.CAP_SYS_ADMIN, false); err != nil {
			return err
		}
		d.personality, err = d.ring.RegisterPersonality()
		if rerr := rawring.SetThreadCap(unix.CAP_SYS_ADMIN, true); err == nil {
			err = rerr
		}
	}
	return err
}

// mmap maps n bytes of anonymous memory the driver owns.
func (d *RingDriver) mmap(n int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", n, err)
	}
	d.mem = append(d.mem, b)
	return b, nil
}

// header returns a fresh 288-byte entry header from the driver's slab.
func (d *RingDriver) header() ([]byte, error) {
	if len(d.hdrSlab) < linux73.SizeofReqHeader {
		slab, err := d.mmap(64 << 10)
		if err != nil {
			return nil, err
		}
		d.hdrSlab = slab
	}
	h := d.hdrSlab[:linux73.SizeofReqHeader:linux73.SizeofReqHeader]
	d.hdrSlab = d.hdrSlab[linux73.SizeofReqHeader:]
	return h, nil
}

// cleanup closes the scratch file and, when free, unmaps the driver's
// memory; the executor has closed the ring by then.
func (d *RingDriver) cleanup(free bool) {
	if d.scratch >= 0 {
		unix.Close(d.scratch)
	}
	if free {
		for _, m := range d.mem {
			unix.Munmap(m)
		}
		d.mem = nil
	}
}

// loop serves the ring until stop: run queued calls, submit, wait for at
// least one CQE, route every ready CQE.
func (d *RingDriver) loop() {
	for {
		d.runQueued()
		if d.stop {
			return
		}
		if _, err := d.ring.SubmitAndWait(1); err != nil {
			d.err = err
			d.srv.h.Fault(Fault{Kind: protocol.FaultTransport, Queue: d.qid, Err: fmt.Errorf("ring of queue %d: %w", d.qid, err)})
			return
		}
		d.drain()
	}
}

func (d *RingDriver) runQueued() {
	d.mu.Lock()
	fns := d.queued
	d.queued = nil
	d.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

// post queues fn to run on the ring thread and wakes the thread. It
// reports false when the driver has stopped.
func (d *RingDriver) post(fn func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.queued = append(d.queued, fn)
	d.rt.Wake()
	return true
}

// call runs fn on the ring thread and returns its result.
func (d *RingDriver) call(fn func() error) error {
	done := make(chan error, 1)
	if !d.post(func() { done <- fn() }) {
		return ErrRingClosed
	}
	select {
	case err := <-done:
		return err
	case <-d.exited:
		select {
		case err := <-done:
			return err
		default:
			return ErrRingClosed
		}
	}
}

// shutdown stops the loop; free says whether the kernel can no longer
// touch the driver's buffers (the connection ended), so they may be
// unmapped.
func (d *RingDriver) shutdown(free bool) {
	d.post(func() { d.stop, d.freeMem = true, free })
	<-d.exited
}

// nextSQE returns a zeroed SQE, submitting what is queued when the SQ is
// full.
func (d *RingDriver) nextSQE() (*uring.SQE, error) {
	sqe, err := d.ring.NextSQE()
	if errors.Is(err, uring.ErrSQFull) {
		if _, err = d.ring.Submit(); err != nil {
			return nil, err
		}
		sqe, err = d.ring.NextSQE()
	}
	return sqe, err
}

// drain routes every CQE that is ready now.
func (d *RingDriver) drain() {
	for {
		c, ok := d.ring.PeekCQE()
		if !ok {
			return
		}
		d.route(c)
	}
}

func (d *RingDriver) route(c uring.CQE) {
	idx := int(uint32(c.UserData))
	switch c.UserData & udKindMask {
	case rawring.UserDataWake:
		// post's wake-up: the loop runs the queued calls next.
	case udStep:
		d.steps[uint32(c.UserData)] = c
	case udEntry:
		if idx < len(d.ents) {
			d.onEntryCQE(d.ents[idx], c)
		}
	case udData:
		if idx < len(d.ents) {
			d.onDataCQE(d.ents[idx], c)
		}
	case udProbe:
		if idx < len(d.ents) {
			d.onProbeCQE(d.ents[idx], c)
		}
	case udUser:
		d.userCQEs[c.UserData] = c
	}
}

// beforeCmd applies FaultKnobs.DropCapSysAdminBefore.
func (d *RingDriver) beforeCmd(op linux73.Cmd) error {
	if d.knobDropped || d.srv.cfg.Faults.DropCapSysAdminBefore != op {
		return nil
	}
	d.knobDropped = true
	return rawring.SetThreadCap(unix.CAP_SYS_ADMIN, false)
}

// prepCmd puts the FUSE io_uring command c, with the ring's personality,
// into the submission queue (submitting what is queued when it is full).
func (d *RingDriver) prepCmd(c linux73.Command, ud uint64) (*uring.SQE, error) {
	if err := d.beforeCmd(c.Op); err != nil {
		return nil, err
	}
	if d.ring.SQSpace() == 0 {
		if _, err := d.ring.Submit(); err != nil {
			return nil, err
		}
	}
	c.Personality = d.personality
	return c.Put(d.ring, int32(d.srv.fd), ud)
}

// stepCmd issues one command that always posts a CQE (ADD_QUEUE,
// ADD_BUFPOOL) and returns its result.
func (d *RingDriver) stepCmd(c linux73.Command) error {
	d.seq++
	seq := d.seq
	sqe, err := d.prepCmd(c, udStep|uint64(seq))
	if err != nil {
		return err
	}
	if d.sqeHook != nil {
		d.sqeHook(c.Op, sqe)
	}
	cqe, err := d.submitWaitStep(seq)
	if err != nil {
		return err
	}
	return cqe.Err()
}

func (d *RingDriver) submitWaitStep(seq uint32) (uring.CQE, error) {
	return submitAwait(d, d.steps, seq)
}

// submitAwait submits what is queued, then routes CQEs (route) until the
// one with key k arrives in m, and takes it from there.
func submitAwait[K comparable](d *RingDriver, m map[K]uring.CQE, k K) (uring.CQE, error) {
	if _, err := d.ring.Submit(); err != nil {
		return uring.CQE{}, err
	}
	for {
		if c, ok := m[k]; ok {
			delete(m, k)
			return c, nil
		}
		c, err := d.ring.WaitCQE()
		if err != nil {
			return uring.CQE{}, err
		}
		d.route(c)
	}
}

// SetupStep is one FUSE io_uring command issued by the automatic setup or
// by a RingDriver step method, with its result.
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

func (d *RingDriver) logStep(qid uint16, op linux73.Cmd, flags uint64, ent int, err error) {
	d.srv.setupMu.Lock()
	d.srv.setupLog = append(d.srv.setupLog, SetupStep{Qid: int(qid), Ring: d.qid, Cmd: op, Flags: flags, Entry: ent, Err: err})
	d.srv.setupMu.Unlock()
}

// AddQueue issues FUSE_IO_URING_CMD_ADD_QUEUE(qid, flags) and returns its
// CQE result (ABI doc §3.1): nil, or an error matching the errno.
func (d *RingDriver) AddQueue(qid uint16, flags uint64) error {
	return d.call(func() error { return d.addQueue(qid, flags) })
}

func (d *RingDriver) addQueue(qid uint16, flags uint64) error {
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
func (d *RingDriver) AddBufpool(a BufpoolArgs) error {
	return d.call(func() error { return d.addBufpool(a) })
}

func (d *RingDriver) addBufpool(a BufpoolArgs) error {
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
func (d *RingDriver) NewPool(bufs int) (*Pool, error) {
	var p *Pool
	err := d.call(func() (err error) { p, err = d.newPool(bufs); return err })
	return p, err
}

func (d *RingDriver) newPool(bufs int) (*Pool, error) {
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
func (d *RingDriver) BufferTable(n uint32) error {
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
func (d *RingDriver) PutBuffer(slot uint16, buf []byte) error {
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
func (d *RingDriver) Register(a RegisterArgs) (*Entry, error) {
	var e *Entry
	err := d.call(func() (err error) { e, err = d.register(a); return err })
	return e, err
}

func (d *RingDriver) register(a RegisterArgs) (*Entry, error) {
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
func (d *RingDriver) Setup() error {
	return d.call(d.setup)
}

func (d *RingDriver) setup() error {
	s := d.srv
	info, _ := s.h.Init()
	plan, err := planQueue(&s.cfg, d.qid, uint32(d.bufSize), features.HaveBufPool(info) == nil)
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
func (d *RingDriver) Serve() error {
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
func (d *RingDriver) ProbeSlot(slot uint16, write bool, n uint32) (int32, error) {
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
func (d *RingDriver) DropCapSysAdmin() error {
	return d.call(func() error { return rawring.SetThreadCap(unix.CAP_SYS_ADMIN, false) })
}

// RaiseCapSysAdmin sets CAP_SYS_ADMIN in the ring thread's effective set
// again (it stays permitted after DropCapSysAdmin).
func (d *RingDriver) RaiseCapSysAdmin() error {
	return d.call(func() error { return rawring.SetThreadCap(unix.CAP_SYS_ADMIN, true) })
}

// ThreadCapEff returns the ring thread's effective capability set.
func (d *RingDriver) ThreadCapEff() (uint64, error) {
	var v uint64
	err := d.call(func() (err error) { v, err = rawring.ThreadCapEff(); return err })
	return v, err
}

// RegisterPersonality records the ring thread's current credentials as an
// io_uring personality and returns its id.
func (d *RingDriver) RegisterPersonality() (uint16, error) {
	var id uint16
	err := d.call(func() (err error) { id, err = d.ring.RegisterPersonality(); return err })
	return id, err
}

// UsePersonality makes every later FUSE command SQE of this ring carry
// personality id (0: none).
func (d *RingDriver) UsePersonality(id uint16) error {
	return d.call(func() error { d.personality = id; return nil })
}

// Entries returns the entries registered through this driver, by index.
func (d *RingDriver) Entries() []*Entry {
	var out []*Entry
	d.call(func() error { out = append(out, d.ents...); return nil })
	return out
}

// Err returns the error that stopped the driver's loop, if any.
func (d *RingDriver) Err() error {
	select {
	case <-d.exited:
		return d.err
	default:
		return nil
	}
}

// RingThread is the ring seen from its own thread, inside Do.
type RingThread struct{ d *RingDriver }

// Do runs fn on the ring's thread, for operations the driver has no method
// for. fn must not block on anything the ring thread itself provides.
func (d *RingDriver) Do(fn func(t *RingThread) error) error {
	return d.call(func() error { return fn(&RingThread{d}) })
}

// Ring is the io_uring ring: use it for registrations and SQE preparation,
// never to wait for CQEs (use Wait).
func (t *RingThread) Ring() *uring.Ring { return t.d.ring }

// DevFD is the /dev/fuse descriptor.
func (t *RingThread) DevFD() int { return t.d.srv.fd }

// Personality is the personality FUSE command SQEs carry (0: none).
func (t *RingThread) Personality() uint16 { return t.d.personality }

// SQE returns a zeroed SQE. Its UserData must stay below 1<<56.
func (t *RingThread) SQE() (*uring.SQE, error) { return t.d.nextSQE() }

// Submit submits the prepared SQEs.
func (t *RingThread) Submit() error {
	_, err := t.d.ring.Submit()
	return err
}

// Wait returns the CQE with user_data ud (below 1<<56), routing every
// other CQE to its owner meanwhile. It blocks until that CQE is posted.
func (t *RingThread) Wait(ud uint64) (uring.CQE, error) {
	d := t.d
	if ud&udKindMask != 0 {
		return uring.CQE{}, fmt.Errorf("zcserver: user_data %#x uses the driver's top byte", ud)
	}
	return submitAwait(d, d.userCQEs, ud)
}

// Delivery is a request delivered to an entry that is not being served
// (before Serve, or with Config.ManualRing): a copy of what the kernel
// wrote. Answer it with RingDriver.Answer or RingDriver.ServeDelivery.
type Delivery struct {
	Entry    *Entry
	Seq      uint64 // EntRecord.Seq
	InHeader fuseabi.InHeader
	Ent      linux73.EntInOut
	OpIn     [linux73.FUSE_URING_OP_IN_OUT_SZ]byte
	// Payload is a copy of the in-payload (nil when zero-copied).
	Payload []byte
}

// ZeroCopy reports FUSE_URING_ENT_ZERO_COPY.
func (dl *Delivery) ZeroCopy() bool { return dl.Ent.Flags&linux73.FUSE_URING_ENT_ZERO_COPY != 0 }

// Await returns the next request delivered to an entry that is not being
// served.
func (d *RingDriver) Await(ctx context.Context) (*Delivery, error) {
	select {
	case dl := <-d.deliveries:
		return dl, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-d.exited:
		return nil, ErrRingClosed
	}
}

// ServeDelivery answers dl as Serve would (dispatch, data movement, fault
// knobs, COMMIT_AND_FETCH), without making the entry served.
func (d *RingDriver) ServeDelivery(dl *Delivery) error {
	return d.call(func() error {
		e := dl.Entry
		if e.State() != EntryDelivered {
			return fmt.Errorf("zcserver: entry %d is %s, not delivered", e.index, e.State())
		}
		d.handle(e)
		return nil
	})
}

// AnswerArgs is a hand-made reply for RingDriver.Answer. Zero fields take
// the delivery's values; pointers override SQE fields.
type AnswerArgs struct {
	// Error is fuse_out_header.error (0 or a negative errno).
	Error int32
	// Unique, when non-zero, replaces fuse_out_header.unique.
	Unique uint64
	// Payload is copied into the entry's payload buffer (per-entry buffer,
	// or pool + offset).
	Payload []byte
	// PayloadSz, when non-nil, is ring_ent_in_out.payload_sz; otherwise
	// len(Payload).
	PayloadSz *uint32
	// CommitID, Qid, Fixed and BufIndex override the COMMIT SQE's fields
	// (defaults: the delivery's commit_id, the entry's qid, FIXED and
	// buf_index).
	CommitID *uint64
	Qid      *uint16
	Fixed    *bool
	BufIndex *uint16
}

// Answer commits a hand-made reply to dl and reports the kernel's
// immediate answer like Register does: an error CQE posted during the
// submission is returned (the request is then still with the server and
// can be answered again, ABI doc §3.4); nil means the COMMIT was accepted
// and the entry waits for its next request.
func (d *RingDriver) Answer(dl *Delivery, a AnswerArgs) error {
	return d.call(func() error {
		e := dl.Entry
		if e.State() != EntryDelivered {
			return fmt.Errorf("zcserver: entry %d is %s, not delivered", e.index, e.State())
		}
		if len(a.Payload) > 0 {
			buf, err := d.entryBuf(e)
			if err != nil {
				return err
			}
			if len(a.Payload) > len(buf) {
				return fmt.Errorf("zcserver: answer payload of %d bytes, buffer %d", len(a.Payload), len(buf))
			}
			copy(buf, a.Payload)
		}
		oh := fuseabi.OutHeader{Len: uint32(fuseabi.SizeofOutHeader + len(a.Payload)), Error: a.Error, Unique: e.cur.in.Unique}
		if a.Unique != 0 {
			oh.Unique = a.Unique
		}
		fuseabi.Store(e.hdr.OutHeaderBytes(), &oh)
		psz := uint32(len(a.Payload))
		if a.PayloadSz != nil {
			psz = *a.PayloadSz
		}
		e.hdr.Ent.PayloadSz = psz
		qid, commitID, fixed, bufIndex := e.Qid, e.cur.ent.CommitID, e.Fixed, e.BufIndex
		if a.Qid != nil {
			qid = *a.Qid
		}
		if a.CommitID != nil {
			commitID = *a.CommitID
		}
		if a.Fixed != nil {
			fixed = *a.Fixed
		}
		if a.BufIndex != nil {
			bufIndex = *a.BufIndex
		}
		if _, err := d.prepCmd(linux73.CommitCommand(qid, commitID, fixed, bufIndex), udEntry|uint64(e.index)); err != nil {
			return err
		}
		e.answering = true
		e.answerErr = nil
		e.setState(EntryWaiting)
		_, err := d.ring.Submit()
		if err == nil {
			d.drain()
		}
		e.answering = false
		if err != nil {
			return err
		}
		if e.answerErr != nil {
			return fmt.Errorf("commit entry %d (qid %d commit_id %d): %w", e.index, qid, commitID, e.answerErr)
		}
		d.srv.entLog.committed(e.cur.seq, oh.Error, psz)
		d.q.replies.Add(1)
		d.srv.ring.commits.Add(1)
		return nil
	})
}
