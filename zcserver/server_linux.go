package zcserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseconn"
	"github.com/zcsuite/zcsuite/zcserver/knobs"
	"github.com/zcsuite/zcsuite/zcserver/linux73ring"
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
const FusectlDir = fuseconn.FusectlDir

// faultBuffer is the capacity of the Faults channel.
const faultBuffer = 256

// Server is a mounted, serving zcserver: a FUSE connection (package
// fuseconn) with, in a ring mode or with RingInit, the Linux 7.3 ring
// transport on it (package linux73ring), both breaking the protocol only
// where the fault knobs (package knobs) say. Methods are safe for
// concurrent use.
type Server struct {
	cfg   Config
	fs    *memfs.FS
	h     *protocol.Handler
	knobs *knobs.Injector
	conn  *fuseconn.Conn
	rings *linux73ring.Transport

	faults        chan Fault
	faultsDropped atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

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
		if err = fuseconn.CheckDevFuse(cfg.DevFD); err != nil {
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
	s := &Server{cfg: cfg, fs: fs, faults: make(chan Fault, faultBuffer)}
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
	s.knobs = knobs.New(cfg.Faults, s.h.Fault)
	s.conn, err = fuseconn.Open(ctx, fuseconn.Config{
		MountPoint: cfg.MountPoint, DevFD: cfg.DevFD, Readers: cfg.Readers, Handler: s.h, Knobs: s.knobs,
	})
	if err != nil {
		if !errors.Is(err, fuseconn.ErrStuck) {
			fs.Close()
		}
		return nil, err
	}
	queues := 0
	if cfg.Mode.Ring() || cfg.RingInit {
		if queues, err = s.ringQueues(); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.rings = linux73ring.New(cfg.ringConfig(s.conn.DevFD(), s.h, s.knobs, queues))
	if queues > 0 && !cfg.ManualRing && !cfg.RingInit {
		if err := s.setupRings(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// ringQueues checks that the kernel offers what the mode needs and
// returns the number of queues. Errors for a missing feature match
// features.ErrNotSupported (a spec skips, or fails with
// features.RequireOnRelease).
func (s *Server) ringQueues() (int, error) {
	info := s.Init()
	if err := features.HaveIOURing(info); err != nil {
		return 0, fmt.Errorf("zcserver: mode %s: %w", s.cfg.Mode, err)
	}
	if !info.Ring {
		return 0, fmt.Errorf("zcserver: mode %s: INIT reply lacks FUSE_OVER_IO_URING (%s)", s.cfg.Mode, info.String())
	}
	if s.cfg.Mode != ModeDevFuse && s.cfg.Mode != ModeRingPerEntry {
		if err := features.HaveBufPool(info); err != nil {
			return 0, fmt.Errorf("zcserver: mode %s: %w", s.cfg.Mode, err)
		}
	}
	return PossibleCPUs()
}

// setupRings creates one driver per queue, sets each up and starts
// serving. A refused command matches ErrRingSetup and the command's
// errno.
func (s *Server) setupRings() error {
	for qid := range s.rings.Queues() {
		d, err := s.rings.Ring(qid)
		if err != nil {
			return err
		}
		if err := d.Setup(); err != nil {
			return fmt.Errorf("%w: queue %d (mode %s): %w", ErrRingSetup, qid, s.cfg.Mode, err)
		}
	}
	for _, d := range s.rings.Drivers() {
		if err := d.Serve(); err != nil {
			return fmt.Errorf("%w: serve queue %d: %w", ErrRingSetup, d.Qid(), err)
		}
	}
	return nil
}

func (s *Server) onFault(f Fault) {
	select {
	case s.faults <- f:
	default:
		s.faultsDropped.Add(1)
	}
}

// Queues returns the number of FUSE io_uring queues of the connection
// (possible CPUs; 0 in ModeDevFuse without RingInit).
func (s *Server) Queues() int { return s.rings.Queues() }

// Ring returns the ring driver of queue qid. In automatic ring modes it is
// the driver Start set up and that serves the queue; with ManualRing or
// RingInit the driver is created (ring and locked thread, nothing issued)
// on the first call for qid. See RingDriver.
func (s *Server) Ring(qid int) (*RingDriver, error) { return s.rings.Ring(qid) }

// EntLog returns the kept EntRecords with Seq > since, oldest first: what
// the kernel wrote into ring entries for each delivered request.
func (s *Server) EntLog(since uint64) []EntRecord { return s.rings.EntLog(since) }

// SetupLog returns every FUSE io_uring command issued so far by the
// automatic setup and by RingDriver step methods, with its result.
func (s *Server) SetupLog() []SetupStep { return s.rings.SetupLog() }

// SlotProbes returns the channel of FaultKnobs.ProbeSlotAfterCommit
// results. It is never closed; results that find it full are dropped (the
// counters still count them).
func (s *Server) SlotProbes() <-chan SlotProbe { return s.rings.SlotProbes() }

// Held returns the channel on which requests kept by FaultKnobs.Hold are
// announced. It is never closed.
func (s *Server) Held() <-chan *HeldRequest { return s.knobs.Held() }

// Conn is the FUSE connection, for transports built beside the server's
// own (kmbufring, with Config.RingInit).
func (s *Server) Conn() *fuseconn.Conn { return s.conn }

// DevFD is the /dev/fuse descriptor of the connection (for FUSE io_uring
// commands). It stays owned by the Server.
func (s *Server) DevFD() int { return s.conn.DevFD() }

// Handler is the protocol layer serving this connection, for callers that
// drive a ring themselves (Config.RingInit).
func (s *Server) Handler() *protocol.Handler { return s.h }

// Init returns the INIT exchange: what the kernel offered and what we
// replied. It is valid once Start returned.
func (s *Server) Init() InitInfo { return s.conn.Init() }

// ConnID returns the fusectl connection number
// (/sys/fs/fuse/connections/<ConnID>).
func (s *Server) ConnID() uint32 { return s.conn.ConnID() }

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
func (s *Server) Done() <-chan struct{} { return s.conn.Done() }

// Err returns the first fatal transport error, or nil.
func (s *Server) Err() error { return s.conn.Err() }

// Counters returns a snapshot of the counters.
func (s *Server) Counters() Counters {
	c := Counters{Counters: s.h.Counters(), FaultsDropped: s.faultsDropped.Load()}
	c.Ring = s.rings.Counters()
	c.Ring.Held = s.knobs.HeldCount()
	c.Queues = append(s.conn.Readers(), s.rings.QueueCounters()...)
	return c
}

// Abort aborts the FUSE connection through fusectl: every pending and
// future request fails, and the server stops. Close uses it when the
// connection outlives the unmount.
func (s *Server) Abort() error { return s.conn.Abort() }

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
	s.knobs.ReleaseAll()
	if s.rings != nil {
		s.rings.StopNew()
	}
	err := s.conn.End()
	if errors.Is(err, ErrStuck) {
		// Readers and rings may still use the fd and the buffers: stop
		// the rings but leave their memory, the fd and the tree.
		if s.rings != nil {
			s.rings.Shutdown(false)
		}
		return err
	}
	// The connection ended: the kernel no longer writes into ring buffers.
	if s.rings != nil {
		s.rings.Shutdown(true)
	}
	return errors.Join(err, s.conn.CloseFD(), s.fs.Close())
}
