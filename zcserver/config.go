package zcserver

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseconn"
	"github.com/zcsuite/zcsuite/zcserver/knobs"
	"github.com/zcsuite/zcsuite/zcserver/linux73ring"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/ringplan"
)

// Mode selects the transport between the kernel and the server.
type Mode int

// Transport modes. Each ring mode uses one io_uring ring per queue (qid =
// possible CPU, ABI doc §1.2) and keeps serving /dev/fuse for FORGET,
// INTERRUPT and requests queued before the ring was ready.
const (
	// ModeDevFuse serves every request by read(2)/write(2) on /dev/fuse.
	ModeDevFuse Mode = iota
	// ModeRingPerEntry: io_uring queues, each entry with its own payload
	// buffer (REGISTER iov[1], ABI doc §3.3). Works on kernels before the
	// 7.46 ABI too (Linux 7.2): ADD_QUEUE is only issued when INIT offers
	// FUSE_HAS_IO_URING_BUFPOOL.
	ModeRingPerEntry
	// ModeRingPool: io_uring queues sharing a buffer pool per queue
	// (ADD_BUFPOOL without IORING_URING_CMD_FIXED, ABI doc §3.2).
	ModeRingPool
	// ModeRingPoolRegistered: as ModeRingPool, with the pool registered as
	// an io_uring fixed buffer (ADD_BUFPOOL with IORING_URING_CMD_FIXED).
	ModeRingPoolRegistered
	// ModeRingZeroCopy: zero-copy queues (ADD_QUEUE with
	// FUSE_URING_ZERO_COPY, ABI doc §4) with a buffer pool: READ/WRITE of
	// opted-in files (Config.ZeroCopyFiles) move between the client's pages
	// (the entry's slot) and the backing file with READ_FIXED/WRITE_FIXED.
	// Needs CAP_SYS_ADMIN.
	ModeRingZeroCopy
)

var modeNames = []string{"devfuse", "ring-per-entry", "ring-pool", "ring-pool-registered", "ring-zero-copy"}

// String returns the mode's flag spelling.
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Ring reports whether m uses a FUSE io_uring ring.
func (m Mode) Ring() bool { return m >= ModeRingPerEntry && int(m) < len(modeNames) }

// ParseMode parses a mode's String spelling.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if n == s {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown mode %q (want one of %s)", s, strings.Join(modeNames, ", "))
}

// Errors returned by Start and Close.
var (
	// ErrInvalidConfig wraps every configuration error.
	ErrInvalidConfig = errors.New("invalid zcserver config")
	// ErrStuck: the connection did not end after unmount and abort
	// (fuseconn.ErrStuck).
	ErrStuck = fuseconn.ErrStuck
)

// Defaults applied by Start to zero fields.
const (
	DefaultQueueDepth   = 8
	DefaultReaders      = 4
	DefaultMaxWrite     = protocol.DefaultMaxWrite
	DefaultCacheTimeout = time.Second
	DefaultEntLogSize   = linux73ring.DefaultEntLogSize
)

// Config configures Start. Zero fields take the documented defaults.
type Config struct {
	// MountPoint is the absolute path of an existing directory to mount on.
	MountPoint string
	// Mode is the transport.
	Mode Mode
	// QueueDepth is the number of ring entries per queue (per possible
	// CPU) in ring modes; 0 means DefaultQueueDepth. Ignored by
	// ModeDevFuse.
	QueueDepth int
	// PoolBuffers is the number of max_payload_sz buffers in each queue's
	// pool (pool and zero-copy modes); 0 means QueueDepth. Fewer buffers
	// than entries exercises pool exhaustion (ABI doc §4.b).
	PoolBuffers int
	// ManualRing, with a ring mode, negotiates FUSE_OVER_IO_URING but sets
	// up nothing: the caller steps through the setup with Server.Ring
	// (RingDriver.AddQueue, AddBufpool, Register, Setup, Serve). Until
	// every queue has an entry the kernel blocks new requests.
	ManualRing bool
	// EntLogSize is the number of delivered requests Server.EntLog keeps;
	// 0 means DefaultEntLogSize.
	EntLogSize int
	// Readers is the number of goroutines reading /dev/fuse (each blocks
	// an OS thread in read(2)); 0 means DefaultReaders. Ring modes keep
	// these for FORGET and INTERRUPT (ABI doc §1.2).
	Readers int
	// MaxWrite is init_out.max_write; 0 means DefaultMaxWrite (128 KiB).
	// It must be in [4096, 1 MiB]. It also sets max_pages and max_read,
	// and hence max_payload_sz (ABI doc §1.2).
	MaxWrite uint32
	// BackingDir, when set, holds the files' data (one O_TMPFILE file per
	// regular file, e.g. on a tmpfs). Empty means one memfd per file.
	BackingDir string
	// ZeroCopyFiles opts files into FOPEN_IO_URING_ZERO_COPY by their
	// path relative to the mount root; nil opts none in. The flag only
	// matters on zero-copy ring queues; the kernel ignores it otherwise
	// (ABI doc §4.2).
	ZeroCopyFiles func(path string) bool
	// DirectIOFiles sets FOPEN_DIRECT_IO for matching files (no page
	// cache: every read(2)/write(2) becomes a FUSE request).
	DirectIOFiles func(path string) bool
	// CacheTimeout is the kernel's entry and attribute cache lifetime; 0
	// means DefaultCacheTimeout, a negative value disables caching.
	CacheTimeout time.Duration
	// AbortError asks for FUSE_ABORT_ERROR at INIT (protocol.Config):
	// after an abort the kernel answers the server with ECONNABORTED.
	AbortError bool
	// Faults are fault injections; see FaultKnobs.
	Faults FaultKnobs
	// RingInit, with ModeDevFuse, still asks for FUSE_OVER_IO_URING in the
	// INIT reply (when the kernel offers it) but sets up no ring: the
	// caller drives the ring commands itself, on DevFD or through
	// Server.Ring (whose Setup is then unavailable: there is no ring
	// mode). Until the caller's ring is ready the kernel blocks new
	// requests (ABI doc §1.2); /dev/fuse keeps being served.
	RingInit bool
	// DevFD, when positive, is a /dev/fuse descriptor already mounted on
	// MountPoint by someone else (MountFD, typically in a privileged
	// process that passed it with SendFD/ReceiveFD): Start serves it
	// instead of opening and mounting /dev/fuse, so the server needs no
	// privilege for the mount. Start owns the descriptor from the call on
	// (it is closed on error and by Close), and Close does not unmount:
	// it aborts the connection through fusectl and leaves the unmount to
	// the mounter. 0 (stdin is never /dev/fuse) means Start mounts.
	DevFD int
}

// NamePrefix returns a path predicate for ZeroCopyFiles/DirectIOFiles that
// matches paths starting with prefix.
func NamePrefix(prefix string) func(string) bool {
	return func(p string) bool { return strings.HasPrefix(p, prefix) }
}

// withDefaults validates c and fills defaults.
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.MountPoint == "" || !filepath.IsAbs(c.MountPoint) {
		return bad("mount point %q is not an absolute path", c.MountPoint)
	}
	c.MountPoint = filepath.Clean(c.MountPoint)
	if c.Mode < 0 || int(c.Mode) >= len(modeNames) {
		return bad("unknown mode %d", int(c.Mode))
	}
	if c.QueueDepth == 0 {
		c.QueueDepth = DefaultQueueDepth
	}
	if c.QueueDepth < 1 || c.QueueDepth > ringplan.MaxDepth {
		return bad("queue depth %d outside [1, %d]", c.QueueDepth, ringplan.MaxDepth)
	}
	if c.PoolBuffers < 0 || c.PoolBuffers > 4096 {
		return bad("pool buffers %d outside [0, 4096]", c.PoolBuffers)
	}
	if c.ManualRing && !c.Mode.Ring() {
		return bad("ManualRing needs a ring mode, not %s", c.Mode)
	}
	if c.RingInit && c.Mode != ModeDevFuse {
		return bad("RingInit goes with %s; use ManualRing with ring modes", ModeDevFuse)
	}
	if c.DevFD < 0 {
		return bad("DevFD %d is negative (0 means Start mounts)", c.DevFD)
	}
	if c.EntLogSize == 0 {
		c.EntLogSize = DefaultEntLogSize
	}
	if c.EntLogSize < 1 || c.EntLogSize > 1<<20 {
		return bad("ent log size %d outside [1, %d]", c.EntLogSize, 1<<20)
	}
	if err := validateKnobs(&c.Faults, c.Mode); err != nil {
		return bad("fault knobs: %v", err)
	}
	if c.Readers == 0 {
		c.Readers = DefaultReaders
	}
	if c.Readers < 1 || c.Readers > 64 {
		return bad("readers %d outside [1, 64]", c.Readers)
	}
	if c.MaxWrite == 0 {
		c.MaxWrite = DefaultMaxWrite
	}
	if c.MaxWrite < 4096 || c.MaxWrite > protocol.MaxMaxWrite {
		return bad("max write %d outside [4096, %d]", c.MaxWrite, protocol.MaxMaxWrite)
	}
	if c.BackingDir != "" && !filepath.IsAbs(c.BackingDir) {
		return bad("backing dir %q is not an absolute path", c.BackingDir)
	}
	switch {
	case c.CacheTimeout == 0:
		c.CacheTimeout = DefaultCacheTimeout
	case c.CacheTimeout < 0:
		c.CacheTimeout = 0
	}
	return c, nil
}

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

// ringConfig is the configuration of the Linux 7.3 ring transport of c's
// mode on a connection with descriptor devFD, handler h and n queues.
func (c *Config) ringConfig(devFD int, h *protocol.Handler, k *knobs.Injector, n int) linux73ring.Config {
	return linux73ring.Config{
		DevFD: devFD, Handler: h, Knobs: k, Queues: n,
		Depth: c.QueueDepth, PoolBuffers: c.PoolBuffers, Layout: c.Mode.layout(), Name: c.Mode.String(),
		EntLogSize: c.EntLogSize,
	}
}

// layout returns the automatic ring setup of m's queues, or nil when m
// has no ring.
func (m Mode) layout() *linux73ring.Layout {
	switch m {
	case ModeRingPerEntry:
		return &linux73ring.Layout{Payload: ringplan.PerEntry}
	case ModeRingPool:
		return &linux73ring.Layout{Payload: ringplan.PoolMode}
	case ModeRingPoolRegistered:
		return &linux73ring.Layout{Payload: ringplan.RegisteredPool}
	case ModeRingZeroCopy:
		return &linux73ring.Layout{Payload: ringplan.PoolMode, ZeroCopy: true}
	}
	return nil
}
