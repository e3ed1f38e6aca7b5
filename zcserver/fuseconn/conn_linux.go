package fuseconn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/knobs"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
)

// FusectlDir is where fusectl is expected (ABI doc §8).
const FusectlDir = "/sys/fs/fuse/connections"

// Config configures Open. Every field is required unless it says
// otherwise; zcserver.Config documents the user-facing ones.
type Config struct {
	// MountPoint is the absolute path to mount on (or that DevFD is
	// mounted on).
	MountPoint string
	// DevFD, when positive, is a /dev/fuse descriptor already mounted on
	// MountPoint: Open serves it instead of mounting, owns it from the
	// call on, and End does not unmount. 0 means Open mounts.
	DevFD int
	// Readers is the number of /dev/fuse reader goroutines (at least 1).
	Readers int
	// Handler serves every request the readers take.
	Handler *protocol.Handler
	// Knobs is the fault-knob seam the readers ask (hold, reply error).
	Knobs *knobs.Injector
}

// Conn is one mounted, served FUSE connection. Methods are safe for
// concurrent use.
type Conn struct {
	cfg    Config
	h      *protocol.Handler
	knobs  *knobs.Injector
	fd     int
	connID uint32

	readers []*Queue

	initReplied chan struct{} // closed once INIT was answered
	initOnce    sync.Once
	initErr     error         // set before initReplied closes when INIT failed
	done        chan struct{} // closed when every reader has returned
	errOnce     sync.Once
	err         error // first fatal transport error
}

// Open mounts cfg.MountPoint (or takes cfg.DevFD), starts the readers and
// returns once the kernel's FUSE_INIT was answered, so Init is valid; ctx
// bounds only that start-up. On error nothing stays mounted (a passed
// descriptor is closed and, once its connection is known, aborted; the
// mount itself stays, for its mounter to remove), unless the connection
// would not end (see fail).
func Open(ctx context.Context, cfg Config) (*Conn, error) {
	c := &Conn{
		cfg:         cfg,
		h:           cfg.Handler,
		knobs:       cfg.Knobs,
		fd:          -1,
		initReplied: make(chan struct{}),
		done:        make(chan struct{}),
	}
	if cfg.DevFD > 0 {
		c.fd = cfg.DevFD
		// Known before INIT so that End can abort a connection that never
		// initialised: nobody here can unmount it. statx with
		// AT_STATX_DONT_SYNC sends no request (see connID).
		var err error
		if c.connID, err = connID(cfg.MountPoint); err != nil {
			unix.Close(c.fd)
			return nil, err
		}
	} else {
		fd, err := MountFD(cfg.MountPoint, os.Geteuid(), os.Getegid(), c.h.PayloadSize())
		if err != nil {
			return nil, err
		}
		c.fd = fd
	}
	var wg sync.WaitGroup
	for i := range cfg.Readers {
		q := &Queue{Transport: TransportDevFuse, Index: i}
		c.readers = append(c.readers, q)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.readLoop(q)
		}()
	}
	go func() {
		wg.Wait()
		close(c.done)
	}()

	var err error
	select {
	case <-c.initReplied:
		if c.initErr != nil {
			err = fmt.Errorf("zcserver: %w", c.initErr)
		}
	case <-c.done:
		err = fmt.Errorf("zcserver: connection ended before INIT completed: %w", c.Err())
	case <-ctx.Done():
		err = fmt.Errorf("zcserver: waiting for FUSE_INIT: %w", ctx.Err())
	}
	if err == nil {
		if _, ok := c.h.Init(); !ok {
			err = errors.New("zcserver: INIT replied but not recorded")
		}
	}
	if err == nil && cfg.DevFD == 0 {
		c.connID, err = connID(cfg.MountPoint)
	}
	if err != nil {
		return nil, c.fail(err)
	}
	return c, nil
}

// fail ends a connection Open gives up on because of err: held requests
// are released so the readers can see the end, then End and CloseFD. If
// the connection does not end, the descriptor stays open and the returned
// error also matches ErrStuck: the readers may still use the handler and
// its tree, so the caller must not free them.
func (c *Conn) fail(err error) error {
	c.knobs.ReleaseAll()
	if endErr := c.End(); errors.Is(endErr, ErrStuck) {
		return errors.Join(err, endErr)
	}
	c.CloseFD()
	return err
}

func (c *Conn) fatal(err error) {
	c.errOnce.Do(func() { c.err = err })
}

// readLoop serves /dev/fuse with blocking reads until the connection ends.
func (c *Conn) readLoop(q *Queue) {
	buf := make([]byte, c.h.DevReadSize())
	// The reply is written in one write(2): header then out-arguments.
	reply := make([]byte, fuseabi.SizeofOutHeader+c.h.PayloadSize())
	out := reply[fuseabi.SizeofOutHeader:]
	for {
		n, err := unix.Read(c.fd, buf)
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
			c.fatal(err)
			c.h.Fault(protocol.Fault{Kind: protocol.FaultTransport, Queue: q.Index, Err: err})
			return
		}
		q.Requests.Add(1)
		req, err := protocol.SplitDev(buf[:n])
		if err != nil {
			c.h.Fault(protocol.Fault{Kind: protocol.FaultShortRequest, Queue: q.Index, Err: err})
			continue
		}
		req.Queue = q.Index
		hdr := &req.Header
		if c.knobs.Hold(hdr.Opcode) {
			c.knobs.Block(&knobs.HeldRequest{
				Transport: TransportDevFuse, Queue: q.Index, Entry: -1,
				Opcode: hdr.Opcode, Unique: hdr.Unique, NodeID: hdr.NodeID,
			})
		}
		rep, ok := c.knobs.ReplyError(hdr.Unique, hdr.Opcode)
		if !ok {
			rep = c.h.Serve(&req, out)
		}
		if rep.NoReply {
			continue
		}
		rep.PutOutHeader(reply)
		if !c.write(q, &rep, reply[:fuseabi.SizeofOutHeader+rep.N]) {
			return
		}
		if rep.Opcode == fuseabi.FUSE_INIT {
			c.initOnce.Do(func() {
				if rep.Status != protocol.OK {
					c.initErr = fmt.Errorf("FUSE_INIT refused with %s (see Faults)", rep.Status)
				}
				close(c.initReplied)
			})
		}
	}
}

// write sends one reply; it reports false when the connection is gone.
func (c *Conn) write(q *Queue, rep *protocol.Reply, b []byte) bool {
	for {
		_, err := unix.Write(c.fd, b)
		switch {
		case err == nil:
			q.Replies.Add(1)
			return true
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOENT):
			q.StaleReplies.Add(1)
			return true
		case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ECONNABORTED):
			return false
		default:
			q.ReplyErrors.Add(1)
			c.h.Fault(protocol.Fault{
				Kind: protocol.FaultTransport, Opcode: rep.Opcode, Unique: rep.Unique, Queue: q.Index,
				Err: fmt.Errorf("reply to %s (%d bytes, status %s): %w", rep.Opcode, len(b), rep.Status, err),
			})
			return true
		}
	}
}

// Init returns the INIT exchange: what the kernel offered and what we
// replied. It is valid once Open returned.
func (c *Conn) Init() protocol.InitInfo {
	info, _ := c.h.Init()
	return info
}

// DevFD is the /dev/fuse descriptor of the connection (for FUSE io_uring
// commands). It stays owned by the Conn.
func (c *Conn) DevFD() int { return c.fd }

// Handler is the protocol layer serving this connection; ring transports
// answer their requests with it.
func (c *Conn) Handler() *protocol.Handler { return c.h }

// ConnID returns the fusectl connection number
// (FusectlDir/<ConnID>).
func (c *Conn) ConnID() uint32 { return c.connID }

// MountPoint returns the mounted path.
func (c *Conn) MountPoint() string { return c.cfg.MountPoint }

// Readers returns a snapshot of each /dev/fuse reader's counters.
func (c *Conn) Readers() []QueueCounters {
	var out []QueueCounters
	for _, q := range c.readers {
		out = append(out, q.Snapshot())
	}
	return out
}

// Done is closed when every reader has returned (the connection ended).
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns the first fatal transport error, or nil.
func (c *Conn) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	return c.err
}
