package guest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/kmbufring"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// kmRig is one kmbuf spec's fresh FUSE connection: a zcserver that
// answered INIT with FUSE_OVER_IO_URING and keeps serving /dev/fuse, one
// kmbufring.Ring per queue (the series pins a kmbuf ring per io_uring
// instance, ABI doc §2.4), and the spec's clients. Its cleanups
// abort the connection, wait for the clients, close the rings and unmount,
// in that order. Section numbers in this family of files refer to
// zcserver/fuseabi/kmbuf/ABI.md.
type kmRig struct {
	ringConn
	prof  kmbuf.Profile
	nq    int
	rings []*kmbufring.Ring
	// leakRings keeps the rings open at cleanup: a destructive spec whose
	// ring thread may never come back (§5 d) leaves them to the VM's end.
	leakRings bool
}

// newKmRig skips the spec unless it runs under a kmbuf profile on a kernel
// with the series, then mounts a fresh connection (a refused REGISTER
// changes the connection, §5 c, so nothing is shared between specs).
func newKmRig(ctx context.Context) *kmRig {
	GinkgoHelper()
	r := &kmRig{prof: requireKmbuf()}
	AddReportEntry("kmbuf-profile", r.prof.Name)
	r.srv = startDevFuse(ctx, zcserver.Config{Mode: zcserver.ModeDevFuse, RingInit: true,
		DirectIOFiles: zcserver.NamePrefix(dioPrefix)})
	r.info = r.srv.Init()
	Expect(features.HaveIOURing(r.info)).To(Succeed(), "the kmbuf specs need fuse.enable_uring=1: %s", r.info.String())
	Expect(r.info.Ring).To(BeTrue(), "INIT reply without FUSE_OVER_IO_URING: %s", r.info.String())
	var err error
	r.nq, err = zcserver.PossibleCPUs()
	Expect(err).NotTo(HaveOccurred())
	r.rings = make([]*kmbufring.Ring, r.nq)
	DeferCleanup(r.closeRings)
	r.deferRelease()
	return r
}

func (r *kmRig) closeRings() error {
	if r.leakRings {
		return nil
	}
	var errs []error
	for _, g := range r.rings {
		if g != nil {
			errs = append(errs, g.Close())
		}
	}
	return errors.Join(errs...)
}

// ring returns qid's io_uring instance, starting it on first use.
func (r *kmRig) ring(qid int) *kmbufring.Ring {
	GinkgoHelper()
	if r.rings[qid] == nil {
		g, err := kmbufring.Start(r.srv.DevFD(), kmbufring.Config{Profile: r.prof})
		Expect(err).NotTo(HaveOccurred(), "ring for qid %d", qid)
		r.rings[qid] = g
	}
	return r.rings[qid]
}

// do runs fn on qid's ring thread.
func (r *kmRig) do(ctx context.Context, qid int, fn func(t *kmbufring.Thread) error) error {
	return r.ring(qid).Do(ctx, fn)
}

func (r *kmRig) lastQid() int { return r.nq - 1 }

// layout is a valid queue for qid.
func (r *kmRig) layout(qid int, zc bool, depth uint16) kmbufring.Layout {
	return kmbufring.Layout{Qid: uint16(qid), ZeroCopy: zc, Depth: depth, PayloadSz: r.info.MaxPayloadSz}
}

// setupQueue builds l on its qid's ring.
func (r *kmRig) setupQueue(ctx context.Context, l kmbufring.Layout) *kmbufring.Queue {
	GinkgoHelper()
	var q *kmbufring.Queue
	Expect(r.do(ctx, int(l.Qid), func(t *kmbufring.Thread) error {
		var err error
		q, err = t.SetupQueue(l)
		return err
	})).To(Succeed(), "set up qid %d (%+v)", l.Qid, l)
	return q
}

// setupAll builds a queue on every qid that has none yet (the ring is
// ready only when every qid has an entry, §4 step 5): zc on qid 0 as
// asked, buf ring only elsewhere.
func (r *kmRig) setupAll(ctx context.Context, zc bool, depth uint16) []*kmbufring.Queue {
	GinkgoHelper()
	var qs []*kmbufring.Queue
	for qid := range r.nq {
		qs = append(qs, r.setupQueue(ctx, r.layout(qid, zc && qid == 0, depth)))
	}
	return qs
}

// otherConn mounts a second connection (INIT with FUSE_OVER_IO_URING) for
// commands that must not meet this connection's state: a refused REGISTER
// turns io_uring off for its connection for good on a 7.2 base (every
// later command gets EOPNOTSUPP), while the kmbuf pin it must have dropped
// belongs to the io_uring instance and can be checked through another
// connection's REGISTER on the same ring.
func (r *kmRig) otherConn(ctx context.Context) *zcserver.Server {
	GinkgoHelper()
	srv := startDevFuse(ctx, zcserver.Config{Mode: zcserver.ModeDevFuse, RingInit: true})
	DeferCleanup(func() error {
		if err := srv.Abort(); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
		return nil
	})
	return srv
}

// register allocates nothing: it REGISTERs e on its qid's ring and returns
// the kernel's answer.
func (r *kmRig) register(ctx context.Context, e *kmbufring.Entry) error {
	return r.do(ctx, int(e.Qid), func(t *kmbufring.Thread) error { return t.Register(e) })
}

// kmbufOnly registers the qid's kmbuf ring (no table, no entry).
func (r *kmRig) kmbufOnly(ctx context.Context, qid int) {
	GinkgoHelper()
	Expect(r.do(ctx, qid, func(t *kmbufring.Thread) error {
		return t.RegisterKmbuf(kmbufring.DefaultBufSize(r.info.MaxPayloadSz), 4)
	})).To(Succeed())
}

func (r *kmRig) setCap(ctx context.Context, qid int, on bool) {
	GinkgoHelper()
	Expect(r.do(ctx, qid, func(t *kmbufring.Thread) error { return t.SetCapSysAdmin(on) })).To(Succeed())
}

func (r *kmRig) unregisterKmbuf(ctx context.Context, qid int) error {
	return r.do(ctx, qid, func(t *kmbufring.Thread) error { return t.UnregisterKmbuf() })
}

// kmServed is what a ring delivered while serving.
type kmServed struct {
	Qid       uint16
	ID        uint16
	Opcode    string
	PayloadSz uint32
	HasBuf    bool
	ZC        bool
	// CQEBuf: the delivery CQE itself carried IORING_CQE_F_BUFFER (a
	// buffer selected for this request, not one kept from before).
	CQEBuf bool
}

// serveClient answers every request on every ring until c returns and
// reports what the rings served.
func (r *kmRig) serveClient(ctx context.Context, c *ringtest.Client) []kmServed {
	GinkgoHelper()
	var (
		mu   sync.Mutex
		seen []kmServed
		wg   sync.WaitGroup
		errs = make([]error, len(r.rings))
	)
	for qid, g := range r.rings {
		if g == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[qid] = g.ServeFunc(ctx, r.srv.Handler(), c.Done(), func(_ *kmbufring.Thread, e *kmbufring.Entry) {
				mu.Lock()
				seen = append(seen, kmServed{e.Qid, e.ID, e.Opcode().String(), e.EntIO.PayloadSz, e.HasBuf, e.ZeroCopied(), e.CQEFlags&uring.IORING_CQE_F_BUFFER != 0})
				mu.Unlock()
			})
		}()
	}
	wg.Wait()
	Expect(errors.Join(errs...)).To(Succeed(), "serving the rings")
	return seen
}

// run starts fn as a client pinned to cpu and serves until it returns.
func (r *kmRig) run(ctx context.Context, cpu int, fn func() error) ([]kmServed, error) {
	GinkgoHelper()
	c := r.clients.Go(cpu, fn)
	seen := r.serveClient(ctx, c)
	return seen, c.Err()
}

// serveUntil answers qid's requests until stop selects one, which is
// returned held.
func (r *kmRig) serveUntil(ctx context.Context, qid int, stop func(*kmbufring.Entry) bool) *kmbufring.Entry {
	GinkgoHelper()
	var held *kmbufring.Entry
	Expect(r.do(ctx, qid, func(t *kmbufring.Thread) error {
		var err error
		held, err = t.ServeUntil(r.srv.Handler(), stop)
		return err
	})).To(Succeed(), "serving qid %d until the awaited request", qid)
	return held
}

// answer computes e's reply without committing it.
func (r *kmRig) answer(ctx context.Context, e *kmbufring.Entry) protocol.Reply {
	GinkgoHelper()
	var rep protocol.Reply
	Expect(r.do(ctx, int(e.Qid), func(t *kmbufring.Thread) error {
		var err error
		rep, err = t.Answer(e, r.srv.Handler())
		return err
	})).To(Succeed())
	return rep
}

// answerCommit answers and commits e's request.
func (r *kmRig) answerCommit(ctx context.Context, e *kmbufring.Entry) {
	GinkgoHelper()
	Expect(r.do(ctx, int(e.Qid), func(t *kmbufring.Thread) error {
		if _, err := t.Answer(e, r.srv.Handler()); err != nil {
			return err
		}
		_, err := t.Commit(e)
		return err
	})).To(Succeed(), "answer and commit %v", e)
}

// commitWithProbe commits e as it stands and puts, into the same
// io_uring_enter, a one-byte fixed I/O on table slot (READ_FIXED into the
// slot when read, WRITE_FIXED from it otherwise) against the scratch
// memfd; it returns that probe's CQE res. On an empty slot any fixed I/O
// gets EFAULT (§2.7), so -EFAULT proves the commit emptied the slot.
func (r *kmRig) commitWithProbe(ctx context.Context, e *kmbufring.Entry, read bool, slot uint16) (int32, error) {
	var res int32
	err := r.do(ctx, int(e.Qid), func(t *kmbufring.Thread) error {
		fd, _, err := t.Scratch(4096)
		if err != nil {
			return err
		}
		if err := unix.Ftruncate(fd, 4096); err != nil {
			return err
		}
		cqes, err := t.Commit(e, kmbufring.FixedProbe(read, fd, 1, slot))
		if err != nil {
			return err
		}
		res = cqes[0].Res
		return nil
	})
	return res, err
}

// kmIsOp selects requests of opcode op.
func kmIsOp(op fuseabi.Opcode) func(*kmbufring.Entry) bool {
	return func(e *kmbufring.Entry) bool { return e.Opcode() == op }
}

// kmDirectRead is a client that opens p with O_DIRECT and reads len(buf)
// bytes at off, returning the byte count in *n.
func kmDirectRead(p string, off int64, buf []byte, n *int) func() error {
	return func() error {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer unix.Close(fd)
		*n, err = unix.Pread(fd, buf, off)
		return err
	}
}

// kmAligned returns n bytes of page-aligned memory (O_DIRECT buffers).
func kmAligned(n int) []byte {
	GinkgoHelper()
	b, err := unix.Mmap(-1, 0, max(n, 4096), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(unix.Munmap, b)
	return b[:n]
}
