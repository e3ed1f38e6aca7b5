package guest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/spectime"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// The child half of ringtest.AddQueueAs (cap-gate, another uid).
func init() { ringtest.RunChild() }

// Timeouts of the edge-case specs (TCG is slow; most finish in a second):
// spectime.Edge, which the host plans each VM's deadline with.
const (
	edgeTimeout    = spectime.Edge
	cleanupTimeout = 60 * time.Second
	// blockedFor is how long a client must stay blocked to count as
	// blocked rather than slow: a request the kernel wrongly completes or
	// fails reaches its client within milliseconds, even under TCG (FUSE
	// has no timer that would complete it later, unless a request timeout
	// is configured, and zcserver configures none).
	blockedFor = 500 * time.Millisecond
)

// ZC is FUSE_URING_ZERO_COPY, the ADD_QUEUE flag.
const ZC = linux73.FUSE_URING_ZERO_COPY

// Files whose names start with these prefixes are opened with
// FOPEN_IO_URING_ZERO_COPY (and FOPEN_DIRECT_IO) or with FOPEN_DIRECT_IO
// only, so that every read(2)/write(2) becomes one FUSE request on the
// client's pages (ABI doc §4.2, §4.3).
const (
	zcPrefix  = "zc-"
	dioPrefix = "dio-"
)

// rig is one spec's fresh FUSE connection: a zcserver that answered INIT
// with FUSE_OVER_IO_URING and keeps serving /dev/fuse, plus a raw ring on
// its own thread, plus the spec's clients. Its cleanups abort the
// connection (releasing blocked clients), wait for the clients, close the
// ring and unmount, in that order.
type rig struct {
	ringConn
	ring *ringtest.Ring
	nq   int // nr_queues = possible CPUs
}

// newRig mounts a fresh connection for one spec (H3: a failed REGISTER
// disables io_uring for the connection, so nothing is shared).
func newRig(ctx context.Context, cfg zcserver.Config) *rig {
	GinkgoHelper()
	r := &rig{}
	cfg.Mode, cfg.RingInit = zcserver.ModeDevFuse, true
	if cfg.ZeroCopyFiles == nil {
		cfg.ZeroCopyFiles = zcserver.NamePrefix(zcPrefix)
	}
	if cfg.DirectIOFiles == nil {
		zc, dio := zcserver.NamePrefix(zcPrefix), zcserver.NamePrefix(dioPrefix)
		cfg.DirectIOFiles = func(p string) bool { return zc(p) || dio(p) }
	}
	r.srv = startDevFuse(ctx, cfg)
	r.info = r.srv.Init()
	Expect(features.HaveIOURing(r.info)).To(Succeed(), "the ring specs need fuse.enable_uring=1: %s", r.info.String())
	Expect(r.info.Ring).To(BeTrue(), "INIT reply without FUSE_OVER_IO_URING: %s", r.info.String())
	var err error
	r.nq, err = ringtest.PossibleCPUs()
	Expect(err).NotTo(HaveOccurred())
	r.ring, err = ringtest.Start(r.srv.DevFD(), ringtest.Config{BufSlots: 64})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(r.ring.Close)
	r.deferRelease()
	return r
}

// requireBufPool skips the spec, with the probe's reason, on a kernel
// without the 7.46 ABI, and fails it if the kernel should have it.
func (r *rig) requireBufPool() {
	GinkgoHelper()
	err := features.HaveBufPool(r.info)
	if err == nil {
		return
	}
	err = features.RequireOnRelease(err, kernelRelease())
	if errors.Is(err, features.ErrNotSupported) {
		Skip(err.Error())
	}
	Fail(err.Error())
}

// requireNoBufPool skips a feature-absent spec on a kernel that has the
// 7.46 ABI.
func (r *rig) requireNoBufPool() {
	GinkgoHelper()
	err := features.HaveBufPool(r.info)
	if err == nil {
		Skip("the kernel has the 7.46 buffer-pool ABI (" + r.info.String() + "); this spec covers kernels without it")
	}
	Expect(errors.Is(err, features.ErrNotSupported)).To(BeTrue(), "bufpool probe broken: %v", err)
}

// lastQid is nr_queues-1, the control queue of specs that need two.
func (r *rig) lastQid() uint16 { return uint16(r.nq - 1) }

// requireSecondQueue skips a spec that needs a FUSE queue besides qid 0 (a
// control queue, or one to leave empty) in a VM with one possible CPU
// (-smp 1): FUSE has exactly one queue per possible CPU.
func requireSecondQueue(nq int) {
	GinkgoHelper()
	if nq < 2 {
		Skip(fmt.Sprintf("needs 2 possible CPUs for a second FUSE queue; the VM has %d", nq))
	}
}

// do runs fn on the ring thread.
func (r *rig) do(ctx context.Context, fn func(t *ringtest.Thread) error) error {
	return r.ring.Do(ctx, fn)
}

func (r *rig) exec(ctx context.Context, c ringtest.Cmd) error {
	return r.do(ctx, func(t *ringtest.Thread) error { return t.Exec(c) })
}

func (r *rig) addQueue(ctx context.Context, qid uint16, flags uint64) error {
	return r.do(ctx, func(t *ringtest.Thread) error { return t.AddQueue(qid, flags) })
}

func (r *rig) setCap(ctx context.Context, on bool) {
	GinkgoHelper()
	Expect(r.do(ctx, func(t *ringtest.Thread) error { return t.SetCapSysAdmin(on) })).To(Succeed())
}

// layout is a complete ring of the given mode on every queue, one entry
// each unless depth says otherwise.
func (r *rig) layout(mode ringtest.Mode, zc bool, depth int) ringtest.Layout {
	return ringtest.Layout{Queues: r.nq, Depth: depth, Mode: mode, ZeroCopy: zc, PayloadSz: r.info.MaxPayloadSz}
}

// setup builds l and returns its entries.
func (r *rig) setup(ctx context.Context, l ringtest.Layout) []*ringtest.Entry {
	GinkgoHelper()
	var ents []*ringtest.Entry
	Expect(r.do(ctx, func(t *ringtest.Thread) error {
		var err error
		ents, err = t.Setup(l)
		return err
	})).To(Succeed(), "set up %+v", l)
	return ents
}

// register allocates and registers one entry shaped by l on qid and
// returns it with the kernel's answer.
func (r *rig) register(ctx context.Context, qid uint16, l ringtest.Layout, edit func(*ringtest.Entry)) (*ringtest.Entry, error) {
	var e *ringtest.Entry
	err := r.do(ctx, func(t *ringtest.Thread) error {
		var err error
		if e, err = t.NewEntry(qid, l); err != nil {
			return err
		}
		if edit != nil {
			edit(e)
		}
		return t.Register(e)
	})
	return e, err
}

// served is what the ring delivered while serving.
type served struct {
	Qid    uint16
	Opcode string
	ZC     bool
}

// run starts fn as a client pinned to cpu, answers every ring request
// until the client returns, and gives back what the ring served meanwhile
// and the client's error.
func (r *rig) run(ctx context.Context, cpu int, fn func() error) ([]served, error) {
	GinkgoHelper()
	c := r.clients.Go(cpu, fn)
	seen := r.serveClient(ctx, c)
	return seen, c.Err()
}

// serveClient answers every ring request until c returns and reports what
// was served.
func (r *rig) serveClient(ctx context.Context, c *ringtest.Client) []served {
	GinkgoHelper()
	var seen []served
	Expect(r.ring.ServeFunc(ctx, r.srv.Handler(), c.Done(), func(e *ringtest.Entry) {
		seen = append(seen, served{e.Qid, e.Opcode().String(), e.ZeroCopy()})
	})).To(Succeed(), "serving the ring")
	return seen
}

// ready returns the entries holding a delivered request nobody took yet.
func (r *rig) ready(ctx context.Context) []*ringtest.Entry {
	GinkgoHelper()
	var ents []*ringtest.Entry
	Expect(r.do(ctx, func(t *ringtest.Thread) error {
		ents = t.Ready()
		return nil
	})).To(Succeed())
	return ents
}

// waiting reads the connection's fusectl "waiting" count: requests
// allocated and not yet ended, including clients blocked until the ring
// is ready (fuse_get_req counts before it waits).
func (r *rig) waiting() (int, error) {
	p := fmt.Sprintf("%s/%d/waiting", zcserver.FusectlDir, r.srv.ConnID())
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// serveUntil answers ring requests until stop selects one, which is
// returned held.
func (r *rig) serveUntil(ctx context.Context, stop func(*ringtest.Entry) bool) *ringtest.Entry {
	GinkgoHelper()
	var held *ringtest.Entry
	Expect(r.do(ctx, func(t *ringtest.Thread) error {
		var err error
		held, err = t.ServeUntil(r.srv.Handler(), stop)
		return err
	})).To(Succeed(), "serving the ring until the awaited request")
	return held
}

// opCmd builds a uring_cmd for op with qid and flags (ADD_QUEUE shape).
func opCmd(op linux73.Cmd, qid uint16, flags uint64) ringtest.Cmd {
	return ringtest.Cmd{Op: op, Req: linux73.CmdReq{Qid: qid, Flags: flags}}
}

// cqeErr turns a raw CQE res into the error CQE.Err would give.
func cqeErr(res int32) error { return uring.CQE{Res: res}.Err() }

// pattern returns n bytes that depend on seed and position.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31+i>>8) ^ seed
	}
	return b
}

// writeFile is a client that opens p (creating it) and writes all of data
// at off with one pwrite.
func writeFile(p string, off int64, data []byte) func() error {
	return func() error {
		fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer unix.Close(fd)
		n, err := unix.Pwrite(fd, data, off)
		if err != nil {
			return fmt.Errorf("pwrite %s: %w", p, err)
		}
		if n != len(data) {
			return fmt.Errorf("pwrite %s: %d of %d bytes", p, n, len(data))
		}
		return nil
	}
}

// readFile is a client that opens p and reads exactly len(buf) bytes at
// off with one pread.
func readFile(p string, off int64, buf []byte) func() error {
	return func() error {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer unix.Close(fd)
		n, err := unix.Pread(fd, buf, off)
		if err != nil {
			return fmt.Errorf("pread %s: %w", p, err)
		}
		if n != len(buf) {
			return fmt.Errorf("pread %s: %d of %d bytes", p, n, len(buf))
		}
		return nil
	}
}

// addrOf is the user address of b's first byte.
func addrOf(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

// setSlot installs b (nil: nothing) in the fixed-buffer slot (of a
// registered pool, or a zero-copy slot).
func setSlot(ctx SpecContext, r *rig, slot uint16, b []byte) {
	GinkgoHelper()
	Expect(r.do(ctx, func(t *ringtest.Thread) error {
		_, err := t.Uring().UpdateBuffers(uint32(slot), [][]byte{b})
		return err
	})).To(Succeed(), "update slot %d", slot)
}
