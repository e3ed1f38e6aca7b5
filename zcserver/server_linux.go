package zcserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/memfs"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
)

// Type aliases so callers need not import the protocol package for the
// common result types.
type (
	// InitInfo is the recorded INIT exchange.
	InitInfo = protocol.InitInfo
	// Fault is a server fault event.
	Fault = protocol.Fault
)

// FusectlDir is where fusectl is expected (ABI doc §8).
const FusectlDir = "/sys/fs/fuse/connections"

// Close timing: how long Close lets the connection end by itself after
// the lazy unmount before aborting it, and how long it then waits.
const (
	closeGrace      = 2 * time.Second
	closeAbortGrace = 10 * time.Second
)

// faultBuffer is the capacity of the Faults channel.
const faultBuffer = 256

// Server is a mounted, serving zcserver. Methods are safe for concurrent
// use.
type Server struct {
	cfg    Config
	fs     *memfs.FS
	h      *protocol.Handler
	fd     int
	connID uint32

	queues        []*queueCounters
	faults        chan Fault
	faultsDropped atomic.Uint64

	initReplied chan struct{} // closed once INIT was answered
	initOnce    sync.Once
	initErr     error         // set before initReplied closes when INIT failed
	done        chan struct{} // closed when every reader has returned
	errOnce     sync.Once
	err         error // first fatal transport error

	closeOnce sync.Once
	closeErr  error

	// Ring transport.
	nrQueues   int
	driversMu  sync.Mutex
	drivers    []*RingDriver // by qid; nil until created
	ring       ringCounters
	entLog     *entLog
	setupMu    sync.Mutex
	setupLog   []SetupStep
	slotProbes chan SlotProbe

	// Hold knob.
	holdCounts []atomic.Int64
	held       chan *HeldRequest
	heldMu     sync.Mutex
	heldList   []*HeldRequest
	shutting   bool // under heldMu: Close started, holds release at once
}

// Buffer sizes of the spec-facing channels.
const (
	heldBuffer       = 64
	slotProbesBuffer = 4096
)

// Start mounts a fresh filesystem on cfg.MountPoint and serves it. It
// returns once the kernel's FUSE_INIT was answered, so Init is valid; ctx
// bounds only that start-up (cancelling it later has no effect — use
// Close). On error nothing stays mounted.
//
// With Config.DevFD, Start serves that already-mounted descriptor instead
// of mounting; on error it closes the descriptor and, once it knows the
// connection, aborts it (the mount itself stays, for its mounter to
// remove).
func Start(ctx context.Context, cfg Config) (*Server, error) {
	passed := cfg.DevFD
	cfg, err := cfg.withDefaults()
	if err == nil && cfg.DevFD > 0 {
		if err = checkDevFuse(cfg.DevFD); err != nil {
			err = fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	if err != nil {
		if passed > 0 {
			unix.Close(passed)
		}
		return nil, err
	}
	fs, err := memfs.New(memfs.Options{BackingDir: cfg.BackingDir})
	if err != nil {
		if cfg.DevFD > 0 {
			unix.Close(cfg.DevFD)
		}
		return nil, fmt.Errorf("zcserver: %w", err)
	}
	s := &Server{
		cfg:         cfg,
		fs:          fs,
		fd:          -1,
		faults:      make(chan Fault, faultBuffer),
		initReplied: make(chan struct{}),
		done:        make(chan struct{}),
		entLog:      newEntLog(cfg.EntLogSize),
		slotProbes:  make(chan SlotProbe, slotProbesBuffer),
		held:        make(chan *HeldRequest, heldBuffer),
		holdCounts:  make([]atomic.Int64, len(cfg.Faults.Hold)),
	}
	s.h, err = protocol.New(fs, protocol.Config{
		MaxWrite:     cfg.MaxWrite,
		Ring:         cfg.Mode.Ring() || cfg.RingInit,
		EntryTimeout: cfg.CacheTimeout,
		AttrTimeout:  cfg.CacheTimeout,
		OpenPolicy:   cfg.openPolicy(),
		OnFault:      s.onFault,
		AbortError:   cfg.AbortError,
	})
	if err != nil {
		fs.Close()
		if cfg.DevFD > 0 {
			unix.Close(cfg.DevFD)
		}
		return nil, fmt.Errorf("zcserver: %w", err)
	}
	if cfg.DevFD > 0 {
		s.fd = cfg.DevFD
		// Known before INIT so that Close can abort a connection that
		// never initialised: nobody here can unmount it. statx with
		// AT_STATX_DONT_SYNC sends no request (see connID).
		if s.connID, err = connID(cfg.MountPoint); err != nil {
			unix.Close(s.fd)
			fs.Close()
			return nil, err
		}
	} else if err := s.mount(); err != nil {
		fs.Close()
		return nil, err
	}
	var wg sync.WaitGroup
	for i := range cfg.Readers {
		q := &queueCounters{transport: TransportDevFuse, queue: i}
		s.queues = append(s.queues, q)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.readLoop(q)
		}()
	}
	go func() {
		wg.Wait()
		close(s.done)
	}()

	select {
	case <-s.initReplied:
		if s.initErr != nil {
			s.Close()
			return nil, fmt.Errorf("zcserver: %w", s.initErr)
		}
	case <-s.done:
		err := s.Err()
		s.Close()
		return nil, fmt.Errorf("zcserver: connection ended before INIT completed: %w", err)
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("zcserver: waiting for FUSE_INIT: %w", ctx.Err())
	}
	if _, ok := s.h.Init(); !ok {
		s.Close()
		return nil, errors.New("zcserver: INIT replied but not recorded")
	}
	if cfg.DevFD == 0 {
		id, err := connID(cfg.MountPoint)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.connID = id
	}
	if cfg.Mode.Ring() || cfg.RingInit {
		if err := s.startRings(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// startRings checks that the kernel offers what the mode needs, then (in
// automatic ring modes) creates one driver per queue, sets each up and
// starts serving. Errors for a missing feature match
// features.ErrNotSupported (a spec skips, or fails with
// features.RequireOnRelease); a refused command matches ErrRingSetup and
// the command's errno.
func (s *Server) startRings() error {
	info := s.Init()
	if err := features.HaveIOURing(info); err != nil {
		return fmt.Errorf("zcserver: mode %s: %w", s.cfg.Mode, err)
	}
	if !info.Ring {
		return fmt.Errorf("zcserver: mode %s: INIT reply lacks FUSE_OVER_IO_URING (%s)", s.cfg.Mode, info.String())
	}
	if s.cfg.Mode != ModeDevFuse && s.cfg.Mode != ModeRingPerEntry {
		if err := features.HaveBufPool(info); err != nil {
			return fmt.Errorf("zcserver: mode %s: %w", s.cfg.Mode, err)
		}
	}
	n, err := PossibleCPUs()
	if err != nil {
		return err
	}
	s.nrQueues = n
	s.drivers = make([]*RingDriver, n)
	if s.cfg.ManualRing || s.cfg.RingInit {
		return nil
	}
	for qid := range n {
		d, err := s.Ring(qid)
		if err != nil {
			return err
		}
		if err := d.Setup(); err != nil {
			return fmt.Errorf("%w: queue %d (mode %s): %w", ErrRingSetup, qid, s.cfg.Mode, err)
		}
	}
	for _, d := range s.drivers {
		if err := d.Serve(); err != nil {
			return fmt.Errorf("%w: serve queue %d: %w", ErrRingSetup, d.qid, err)
		}
	}
	return nil
}

// Queues returns the number of FUSE io_uring queues of the connection
// (possible CPUs; 0 in ModeDevFuse without RingInit).
func (s *Server) Queues() int { return s.nrQueues }

// Ring returns the ring driver of queue qid. In automatic ring modes it is
// the driver Start set up and that serves the queue; with ManualRing or
// RingInit the driver is created (ring and locked thread, nothing issued)
// on the first call for qid. See RingDriver.
func (s *Server) Ring(qid int) (*RingDriver, error) {
	s.driversMu.Lock()
	defer s.driversMu.Unlock()
	if qid < 0 || qid >= len(s.drivers) {
		return nil, fmt.Errorf("zcserver: no ring for qid %d (%d queues, mode %s)", qid, len(s.drivers), s.cfg.Mode)
	}
	if d := s.drivers[qid]; d != nil {
		return d, nil
	}
	if s.closing() {
		return nil, ErrRingClosed
	}
	d, err := newRingDriver(s, qid)
	if err != nil {
		return nil, err
	}
	s.drivers[qid] = d
	return d, nil
}

func (s *Server) closing() bool {
	s.heldMu.Lock()
	defer s.heldMu.Unlock()
	return s.shutting
}

// EntLog returns the kept EntRecords with Seq > since, oldest first: what
// the kernel wrote into ring entries for each delivered request.
func (s *Server) EntLog(since uint64) []EntRecord { return s.entLog.snapshot(since) }

// SetupLog returns every FUSE io_uring command issued so far by the
// automatic setup and by RingDriver step methods, with its result.
func (s *Server) SetupLog() []SetupStep {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	return append([]SetupStep(nil), s.setupLog...)
}

// SlotProbes returns the channel of FaultKnobs.ProbeSlotAfterCommit
// results. It is never closed; results that find it full are dropped (the
// counters still count them).
func (s *Server) SlotProbes() <-chan SlotProbe { return s.slotProbes }

// Held returns the channel on which requests kept by FaultKnobs.Hold are
// announced. It is never closed.
func (s *Server) Held() <-chan *HeldRequest { return s.held }

// holdMatch counts op against the hold rules and reports whether this
// request is one to hold.
func (s *Server) holdMatch(op fuseabi.Opcode) bool {
	hold := false
	for i, r := range s.cfg.Faults.Hold {
		if r.Opcode != op {
			continue
		}
		n := s.holdCounts[i].Add(1)
		if n == int64(max(r.N, 1)) {
			hold = true
		}
	}
	return hold
}

// announceHeld registers h for Close and publishes it; if Close already
// started, h is released at once.
func (s *Server) announceHeld(h *HeldRequest) {
	s.ring.held.Add(1)
	s.heldMu.Lock()
	if s.shutting {
		s.heldMu.Unlock()
		h.Release()
		return
	}
	s.heldList = append(s.heldList, h)
	s.heldMu.Unlock()
	select {
	case s.held <- h:
	default:
		s.h.Fault(Fault{Kind: protocol.FaultTransport, Opcode: h.Opcode, Unique: h.Unique, Queue: h.Queue,
			Err: errors.New("Held channel full: a held request is announced to nobody")})
	}
}

// releaseAllHeld marks the server closing and releases every held request.
func (s *Server) releaseAllHeld() {
	s.heldMu.Lock()
	s.shutting = true
	list := s.heldList
	s.heldList = nil
	s.heldMu.Unlock()
	for _, h := range list {
		h.Release()
	}
}

// DevFD is the /dev/fuse descriptor of the connection (for FUSE io_uring
// commands). It stays owned by the Server.
func (s *Server) DevFD() int { return s.fd }

// Handler is the protocol layer serving this connection, for callers that
// drive a ring themselves (Config.RingInit).
func (s *Server) Handler() *protocol.Handler { return s.h }

// openPolicy turns the path predicates into a protocol.OpenPolicy.
func (c *Config) openPolicy() protocol.OpenPolicy {
	zc, dio := c.ZeroCopyFiles, c.DirectIOFiles
	if zc == nil && dio == nil {
		return nil
	}
	return func(o protocol.OpenInfo) uint32 {
		var f uint32
		if zc != nil && zc(o.Path) {
			f |= fuseabi.FOPEN_IO_URING_ZERO_COPY
		}
		if dio != nil && dio(o.Path) {
			f |= fuseabi.FOPEN_DIRECT_IO
		}
		return f
	}
}

// mount opens /dev/fuse (blocking, outside Go's poller) and mounts it.
func (s *Server) mount() error {
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("zcserver: open /dev/fuse: %w", err)
	}
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=%d,group_id=%d,allow_other,max_read=%d",
		fd, os.Geteuid(), os.Getegid(), s.h.PayloadSize())
	if err := unix.Mount("zcserver", s.cfg.MountPoint, "fuse.zcserver", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		unix.Close(fd)
		return fmt.Errorf("zcserver: mount fuse.zcserver on %s (%s): %w", s.cfg.MountPoint, opts, err)
	}
	s.fd = fd
	return nil
}

// connID returns the fusectl connection number of the FUSE mount at mnt:
// the kernel's dev_t of the superblock. statx with AT_STATX_DONT_SYNC
// reads the cached root inode, so no FUSE request is sent (ABI doc §8).
func connID(mnt string) (uint32, error) {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, mnt, unix.AT_STATX_DONT_SYNC|unix.AT_SYMLINK_NOFOLLOW, 0, &stx)
	if err != nil {
		return 0, fmt.Errorf("zcserver: statx %s: %w", mnt, err)
	}
	// The kernel names the directory after its internal dev_t encoding,
	// major<<20 | minor; FUSE superblocks are anonymous, major 0.
	return stx.Dev_major<<20 | stx.Dev_minor, nil
}

func (s *Server) onFault(f Fault) {
	select {
	case s.faults <- f:
	default:
		s.faultsDropped.Add(1)
	}
}

func (s *Server) fatal(err error) {
	s.errOnce.Do(func() { s.err = err })
}

// readLoop serves /dev/fuse with blocking reads until the connection ends.
func (s *Server) readLoop(q *queueCounters) {
	buf := make([]byte, s.h.DevReadSize())
	// The reply is written in one write(2): header then out-arguments.
	reply := make([]byte, fuseabi.SizeofOutHeader+s.h.PayloadSize())
	out := reply[fuseabi.SizeofOutHeader:]
	for {
		n, err := unix.Read(s.fd, buf)
		switch {
		case err == nil:
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue
		case errors.Is(err, unix.ENOENT):
			continue // the request was interrupted before we got it
		case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ECONNABORTED):
			return // unmounted or aborted
		default:
			err = fmt.Errorf("read /dev/fuse: %w", err)
			s.fatal(err)
			s.h.Fault(Fault{Kind: protocol.FaultTransport, Queue: q.queue, Err: err})
			return
		}
		q.requests.Add(1)
		req, err := protocol.SplitDev(buf[:n])
		if err != nil {
			s.h.Fault(Fault{Kind: protocol.FaultShortRequest, Queue: q.queue, Err: err})
			continue
		}
		req.Queue = q.queue
		if s.holdMatch(req.Header.Opcode) {
			s.holdDev(q, &req)
		}
		var rep protocol.Reply
		if raw, ok := s.cfg.Faults.ReplyError[req.Header.Opcode]; ok {
			rep = protocol.Reply{Unique: req.Header.Unique, Opcode: req.Header.Opcode, Status: protocol.Status(-raw)}
		} else {
			rep = s.h.Serve(&req, out)
		}
		if rep.NoReply {
			continue
		}
		rep.PutOutHeader(reply)
		if !s.write(q, &rep, reply[:fuseabi.SizeofOutHeader+rep.N]) {
			return
		}
		if rep.Opcode == fuseabi.FUSE_INIT {
			s.initOnce.Do(func() {
				if rep.Status != protocol.OK {
					s.initErr = fmt.Errorf("FUSE_INIT refused with %s (see Faults)", rep.Status)
				}
				close(s.initReplied)
			})
		}
	}
}

// holdDev blocks a /dev/fuse reader on a held request until it is
// released.
func (s *Server) holdDev(q *queueCounters, req *protocol.Request) {
	released := make(chan struct{})
	h := &HeldRequest{
		Transport: TransportDevFuse, Queue: q.queue, Entry: -1,
		Opcode: req.Header.Opcode, Unique: req.Header.Unique, NodeID: req.Header.NodeID,
		release: func() { close(released) },
	}
	s.announceHeld(h)
	<-released
}

// write sends one reply; it reports false when the connection is gone.
func (s *Server) write(q *queueCounters, rep *protocol.Reply, b []byte) bool {
	for {
		_, err := unix.Write(s.fd, b)
		switch {
		case err == nil:
			q.replies.Add(1)
			return true
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOENT):
			q.staleReplies.Add(1)
			return true
		case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ECONNABORTED):
			return false
		default:
			q.replyErrors.Add(1)
			s.h.Fault(Fault{
				Kind: protocol.FaultTransport, Opcode: rep.Opcode, Unique: rep.Unique, Queue: q.queue,
				Err: fmt.Errorf("reply to %s (%d bytes, status %s): %w", rep.Opcode, len(b), rep.Status, err),
			})
			return true
		}
	}
}

// Init returns the INIT exchange: what the kernel offered and what we
// replied. It is valid once Start returned.
func (s *Server) Init() InitInfo {
	info, _ := s.h.Init()
	return info
}

// ConnID returns the fusectl connection number
// (/sys/fs/fuse/connections/<ConnID>).
func (s *Server) ConnID() uint32 { return s.connID }

// MountPoint returns the mounted path.
func (s *Server) MountPoint() string { return s.cfg.MountPoint }

// Mode returns the transport mode.
func (s *Server) Mode() Mode { return s.cfg.Mode }

// FS returns the served tree, for tests that check node accounting.
func (s *Server) FS() *memfs.FS { return s.fs }

// Faults returns the channel of fault events. It is never closed; events
// that find it full are counted in Counters.FaultsDropped.
func (s *Server) Faults() <-chan Fault { return s.faults }

// Done is closed when the server stopped serving (after Close, or when the
// connection ended on its own).
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns the first fatal transport error, or nil.
func (s *Server) Err() error {
	select {
	case <-s.done:
	default:
		return nil
	}
	return s.err
}

// Counters returns a snapshot of the counters.
func (s *Server) Counters() Counters {
	c := Counters{Counters: s.h.Counters(), Ring: s.ring.snapshot(), FaultsDropped: s.faultsDropped.Load()}
	for _, q := range s.queues {
		c.Queues = append(c.Queues, q.snapshot())
	}
	for _, d := range s.ringDrivers() {
		c.Queues = append(c.Queues, d.q.snapshot())
	}
	return c
}

// ringDrivers returns the drivers created so far.
func (s *Server) ringDrivers() []*RingDriver {
	s.driversMu.Lock()
	defer s.driversMu.Unlock()
	var out []*RingDriver
	for _, d := range s.drivers {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// Abort aborts the FUSE connection through fusectl: every pending and
// future request fails, and the server stops. Close uses it when the
// connection outlives the unmount.
func (s *Server) Abort() error {
	p := FusectlDir + "/" + strconv.FormatUint(uint64(s.connID), 10) + "/abort"
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("zcserver: abort connection %d: %s missing (connection gone, or fusectl not mounted): %w", s.connID, p, err)
		}
		return fmt.Errorf("zcserver: abort connection %d: %w", s.connID, err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte("1")); err != nil {
		return fmt.Errorf("zcserver: abort connection %d: write %s: %w", s.connID, p, err)
	}
	return nil
}

// Close unmounts (MNT_DETACH) and stops serving. If the connection does
// not end by itself shortly (a client still holds files open, or a request
// is stuck), Close aborts it through fusectl. It returns ErrStuck, wrapped,
// if even that does not end it. Close is idempotent.
//
// A server of a passed descriptor (Config.DevFD) did not mount and does
// not unmount: unless the connection already ended (its mounter unmounted
// first), Close aborts it through fusectl at once — the connection's
// fusectl files belong to the mount's user_id, so an unprivileged server
// may — and the mount stays, failing every access with ENOTCONN, until
// the mounter unmounts it.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown() })
	return s.closeErr
}

func (s *Server) shutdown() error {
	var errs []error
	s.releaseAllHeld() // also stops Ring from creating drivers
	// A passed connection does not end by itself: abort it at once.
	grace := time.Duration(0)
	if s.cfg.DevFD == 0 {
		grace = closeGrace
		if err := unix.Unmount(s.cfg.MountPoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("zcserver: unmount %s: %w", s.cfg.MountPoint, err))
		}
	}
	if !s.wait(grace) {
		var abortErr error
		if s.connID == 0 {
			errs = append(errs, errors.New("zcserver: connection still up after unmount and its fusectl ID is unknown"))
		} else {
			abortErr = s.Abort()
		}
		if !s.wait(closeAbortGrace) {
			// Readers and rings may still use the fd and the buffers:
			// stop the rings but leave their memory, the fd and the tree.
			for _, d := range s.ringDrivers() {
				d.shutdown(false)
			}
			return errors.Join(append(errs, abortErr, fmt.Errorf("zcserver: close %s: %w", s.cfg.MountPoint, ErrStuck))...)
		}
		// The readers returned. An abort that found no fusectl entry
		// (ENOENT) came after the connection had ended by itself: the
		// unmount ends an idle connection and removes its entry before
		// it returns, and the readers may take longer than the grace to
		// see it (a loaded host stops the guest, whose clock then jumps
		// past the grace before they run).
		if abortErr != nil && !errors.Is(abortErr, unix.ENOENT) {
			errs = append(errs, abortErr)
		}
	}
	// The connection ended: the kernel no longer writes into ring buffers.
	for _, d := range s.ringDrivers() {
		d.shutdown(true)
	}
	if err := unix.Close(s.fd); err != nil {
		errs = append(errs, fmt.Errorf("zcserver: close /dev/fuse: %w", err))
	}
	if err := s.fs.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// wait waits up to d for the readers to return.
func (s *Server) wait(d time.Duration) bool {
	select {
	case <-s.done:
		return true
	default:
	}
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.done:
		return true
	case <-t.C:
		return false
	}
}
