package linux73ring

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/fuseconn"
	"github.com/zcsuite/zcsuite/zcserver/knobs"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// Errors of the ring layer.
var (
	// ErrClosed: the ring driver stopped (Close, or a fatal ring
	// error); its methods can no longer run.
	ErrClosed = errors.New("zcserver: ring driver stopped")
	// ErrSetup wraps every failure of the automatic ring setup in
	// zcserver.Start, together with the command's errno.
	ErrSetup = errors.New("zcserver: ring setup failed")
	// ErrWouldCrash: the step would hand the kernel a NULL payload
	// address, which crashes Linux 7.3 (ABI doc §7 H1). Set
	// BufpoolArgs.AllowNull in a disposable VM to send it anyway.
	ErrWouldCrash = errors.New("zcserver: NULL payload address crashes the kernel (ABI doc §7 H1)")
)

// user_data of the ring's SQEs: the kind in the top byte, an entry index
// or a sequence number below. Kind 0 is left to Thread users; the
// executor's wake-up CQE (rawring.UserDataWake, bit 62) is a kind of its
// own.
const (
	udKindShift        = 56
	udKindMask  uint64 = 0xff << udKindShift
	udUser      uint64 = 0 << udKindShift // Thread.Submit callers
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

// Driver owns one io_uring ring (SQE128) on rawring's locked-thread
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
// In automatic ring modes zcserver.Start creates one driver per queue
// (qid = CPU), runs Setup and Serve on each; Transport.Ring returns them.
// With zcserver.Config.ManualRing (or RingInit) nothing is set up:
// Transport.Ring creates the driver of a qid on first use and a spec steps
// through the setup itself (AddQueue, AddBufpool, Register, ...) and then
// calls Serve, or answers requests one by one with Await and Answer.
type Driver struct {
	t   *Transport
	qid int
	q   *fuseconn.Queue

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

// newDriver starts the ring goroutine for qid and waits for its ring.
func newDriver(t *Transport, qid int) (*Driver, error) {
	info, _ := t.h.Init()
	d := &Driver{
		t:          t,
		qid:        qid,
		q:          &fuseconn.Queue{Transport: fuseconn.TransportRing, Index: qid},
		scratch:    -1,
		exited:     make(chan struct{}),
		deliveries: make(chan *Delivery, deliveryBuffer),
		steps:      map[uint32]uring.CQE{},
		userCQEs:   map[uint64]uring.CQE{},
		pools:      map[uint16]poolUse{},
		bufSize:    int(info.MaxPayloadSz),
	}
	if d.bufSize == 0 {
		d.bufSize = t.h.PayloadSize()
	}
	rt, err := rawring.Start(rawring.Config{
		Name:    fmt.Sprintf("zcserver: ring of queue %d", qid),
		Entries: uint32(4*t.cfg.Depth + 32),
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
func (d *Driver) Qid() int { return d.qid }

// BufSize is max_payload_sz as negotiated at INIT: the per-entry payload
// and pool buffer size.
func (d *Driver) BufSize() int { return d.bufSize }

// run keeps the loop on the executor's thread until shutdown, then ends
// the executor (which closes the ring) and frees what the driver owns.
func (d *Driver) run() {
	defer close(d.exited)
	if err := d.rt.Do(context.Background(), func(context.Context) error { d.loop(); return nil }); err != nil && d.err == nil {
		// A panic on the ring thread: the server must not go on quietly.
		d.err = err
		d.t.h.Fault(protocol.Fault{Kind: protocol.FaultTransport, Queue: d.qid, Err: err})
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
func (d *Driver) init(th *rawring.Thread) error {
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
	switch d.t.knobs.Personality() {
	case knobs.PersonalityCapable:
		d.personality, err = d.ring.RegisterPersonality()
	case knobs.PersonalityDropped:
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
func (d *Driver) mmap(n int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", n, err)
	}
	d.mem = append(d.mem, b)
	return b, nil
}

// header returns a fresh 288-byte entry header from the driver's slab.
func (d *Driver) header() ([]byte, error) {
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
func (d *Driver) cleanup(free bool) {
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
func (d *Driver) loop() {
	for {
		d.runQueued()
		if d.stop {
			return
		}
		if _, err := d.ring.SubmitAndWait(1); err != nil {
			d.err = err
			d.t.h.Fault(protocol.Fault{Kind: protocol.FaultTransport, Queue: d.qid, Err: fmt.Errorf("ring of queue %d: %w", d.qid, err)})
			return
		}
		d.drain()
	}
}

func (d *Driver) runQueued() {
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
func (d *Driver) post(fn func()) bool {
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
func (d *Driver) call(fn func() error) error {
	done := make(chan error, 1)
	if !d.post(func() { done <- fn() }) {
		return ErrClosed
	}
	select {
	case err := <-done:
		return err
	case <-d.exited:
		select {
		case err := <-done:
			return err
		default:
			return ErrClosed
		}
	}
}

// shutdown stops the loop; free says whether the kernel can no longer
// touch the driver's buffers (the connection ended), so they may be
// unmapped.
func (d *Driver) shutdown(free bool) {
	d.post(func() { d.stop, d.freeMem = true, free })
	<-d.exited
}

// nextSQE returns a zeroed SQE, submitting what is queued when the SQ is
// full.
func (d *Driver) nextSQE() (*uring.SQE, error) {
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
func (d *Driver) drain() {
	for {
		c, ok := d.ring.PeekCQE()
		if !ok {
			return
		}
		d.route(c)
	}
}

func (d *Driver) route(c uring.CQE) {
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

// beforeCmd applies knobs.Faults.DropCapSysAdminBefore.
func (d *Driver) beforeCmd(op linux73.Cmd) error {
	if d.knobDropped || !d.t.knobs.DropCapBefore(op) {
		return nil
	}
	d.knobDropped = true
	return rawring.SetThreadCap(unix.CAP_SYS_ADMIN, false)
}

// prepCmd puts the FUSE io_uring command c, with the ring's personality,
// into the submission queue (submitting what is queued when it is full).
func (d *Driver) prepCmd(c linux73.Command, ud uint64) (*uring.SQE, error) {
	if err := d.beforeCmd(c.Op); err != nil {
		return nil, err
	}
	if d.ring.SQSpace() == 0 {
		if _, err := d.ring.Submit(); err != nil {
			return nil, err
		}
	}
	c.Personality = d.personality
	return c.Put(d.ring, int32(d.t.fd), ud)
}

// stepCmd issues one command that always posts a CQE (ADD_QUEUE,
// ADD_BUFPOOL) and returns its result.
func (d *Driver) stepCmd(c linux73.Command) error {
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

func (d *Driver) submitWaitStep(seq uint32) (uring.CQE, error) {
	return submitAwait(d, d.steps, seq)
}

// submitAwait submits what is queued, then routes CQEs (route) until the
// one with key k arrives in m, and takes it from there.
func submitAwait[K comparable](d *Driver, m map[K]uring.CQE, k K) (uring.CQE, error) {
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
