package guest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// The error returns of dev_uring.c's command paths that the other edge
// specs do not reach. fixtures/coverage/dev_uring-errors.txt maps every
// errno site of the file to the spec that pins it (or says why none can).

// fuse_uring_cmd's checks before it looks at cmd_op.
var _ = Describe("mixed-flags: commands the connection's state refuses", Label(labels.MixedFlags, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = newRig(ctx, zcserver.Config{})
	}, NodeTimeout(edgeTimeout))

	// catches: fuse_uring_cmd's `default: return -EINVAL;` for an unknown
	// cmd_op changed (another errno, or -EIOCBQUEUED: no CQE ever).
	It("refuses an unknown cmd_op with EINVAL, and io_uring stays on", func(ctx SpecContext) {
		Expect(r.exec(ctx, opCmd(linux73.Cmd(99), 0, 0))).To(MatchError(unix.EINVAL), "cmd_op 99 falls into the default branch")
		_, err := r.register(ctx, r.lastQid(), r.layout(ringtest.PerEntry, false, 1), nil)
		Expect(err).NotTo(HaveOccurred(), "positive control: a known cmd_op on the same connection is accepted (the refusal did not turn io_uring off)")
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_cmd's `if (!(issue_flags & IO_URING_F_SQE128))
	// return -EINVAL;` dropped (the kernel would read fuse_uring_cmd_req
	// past the 16-byte command area of a 64-byte SQE; with zeros there it
	// creates queue 0, and the control then gets EEXIST).
	It("refuses ADD_QUEUE from a ring without IORING_SETUP_SQE128 with EINVAL and creates no queue", func(ctx SpecContext) {
		r.requireBufPool()
		Expect(sqe64Cmd(r.srv.DevFD(), linux73.FUSE_IO_URING_CMD_ADD_QUEUE)).To(MatchError(unix.EINVAL), "§2.1: the command needs a 128-byte SQE")
		Expect(r.addQueue(ctx, 0, 0)).To(Succeed(), "positive control: the same ADD_QUEUE(0, 0) from the SQE128 ring; qid 0 did not exist yet")
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_cmd's `if (IS_ERR(fud)) return PTR_ERR(fud);`
	// dropped (a descriptor without a connection would be used as one).
	It("refuses ADD_QUEUE on a /dev/fuse descriptor that no mount uses with EPERM", func(ctx SpecContext) {
		r.requireBufPool()
		fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(unix.Close, fd)
		lone, err := ringtest.Start(fd, ringtest.Config{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(lone.Close)
		Expect(lone.Do(ctx, func(t *ringtest.Thread) error { return t.AddQueue(0, 0) })).To(MatchError(unix.EPERM), "fuse_get_dev: no connection on this descriptor")
		Expect(r.addQueue(ctx, 0, 0)).To(Succeed(), "positive control: the same ADD_QUEUE on a mounted, initialised connection")
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_entry_teardown's `io_uring_cmd_done(cmd,
	// -ENOTCONN, IO_URING_F_UNLOCKED)` given another errno (the server
	// could not tell a teardown from a refused command).
	It("ends a waiting REGISTER with ENOTCONN when the connection is aborted through fusectl", func(ctx SpecContext) {
		_, err := r.register(ctx, r.lastQid(), r.layout(ringtest.PerEntry, false, 1), nil)
		Expect(err).NotTo(HaveOccurred(), "positive control: the entry is accepted and waits for a request")
		Expect(r.ready(ctx)).To(BeEmpty(), "no request yet: the entry's command is still the kernel's")
		Expect(r.abort()).To(Succeed())
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			_, err := t.Next()
			return err
		})).To(MatchError(unix.ENOTCONN), "§5.1: teardown ends the waiting command")
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_cmd's `if (!fch->connected) return -ENOTCONN;`
	// dropped (ADD_QUEUE would create a queue on an aborted connection).
	It("refuses ADD_QUEUE and REGISTER with ENOTCONN once the connection is aborted through fusectl", func(ctx SpecContext) {
		r.requireBufPool()
		Expect(r.addQueue(ctx, r.lastQid(), 0)).To(Succeed(), "positive control: ADD_QUEUE before the abort")
		Expect(r.info.Flags&fuseabi.FUSE_ABORT_ERROR).To(BeZero(), "zcserver does not ask for FUSE_ABORT_ERROR, so the abort is a plain one")
		Expect(r.abort()).To(Succeed())
		Expect(r.addQueue(ctx, 0, 0)).To(MatchError(unix.ENOTCONN), "the connection is gone")
		_, err := r.register(ctx, 0, r.layout(ringtest.PerEntry, false, 1), nil)
		Expect(err).To(MatchError(unix.ENOTCONN), "REGISTER too, before any of its own checks")
	}, SpecTimeout(edgeTimeout))
})

// A server that negotiated FUSE_ABORT_ERROR is told about an abort with
// ECONNABORTED.
var _ = Describe("mixed-flags: commands after an abort with FUSE_ABORT_ERROR", Label(labels.MixedFlags, labels.ABIUpstream), prioEdge, func() {
	// catches: fuse_uring_cmd's `if (fch->abort_with_err) return
	// -ECONNABORTED;` dropped (the !connected check after it answers
	// ENOTCONN instead).
	It("refuses REGISTER with ECONNABORTED once a connection that negotiated FUSE_ABORT_ERROR is aborted through fusectl", func(ctx SpecContext) {
		r := newRig(ctx, zcserver.Config{AbortError: true})
		Expect(r.info.Flags&fuseabi.FUSE_ABORT_ERROR).NotTo(BeZero(), "the kernel took FUSE_ABORT_ERROR: %s", r.info.String())
		l := r.layout(ringtest.PerEntry, false, 1)
		_, err := r.register(ctx, r.lastQid(), l, nil)
		Expect(err).NotTo(HaveOccurred(), "positive control: REGISTER before the abort")
		Expect(r.abort()).To(Succeed())
		_, err = r.register(ctx, 0, l, nil)
		Expect(err).To(MatchError(unix.ECONNABORTED), "the abort carries FUSE_ABORT_ERROR")
	}, SpecTimeout(edgeTimeout))
})

// fuse.enable_uring is one switch for the whole kernel: this spec turns it
// off for one connection's INIT and back on.
var _ = Describe("mixed-flags: commands while fuse.enable_uring is off", Label(labels.MixedFlags, labels.ABIUpstream), prioEdge, func() {
	// catches: fuse_uring_cmd's `if (!enable_uring && !fch->io_uring)`
	// check dropped (the next check refuses with the same EOPNOTSUPP, but
	// without the module parameter's log line), or its errno changed.
	It("refuses a command with EOPNOTSUPP, logging the module parameter, on a connection made while fuse.enable_uring=0", func(ctx SpecContext) {
		const param = "/sys/module/fuse/parameters/enable_uring"
		on := newRig(ctx, zcserver.Config{})
		_, err := on.register(ctx, on.lastQid(), on.layout(ringtest.PerEntry, false, 1), nil)
		Expect(err).NotTo(HaveOccurred(), "positive control: REGISTER on a connection made with enable_uring on")
		old, err := os.ReadFile(param)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(param, []byte("N"), 0)).To(Succeed())
		DeferCleanup(os.WriteFile, param, bytes.TrimSpace(old), os.FileMode(0))
		srv := startDevFuse(ctx, zcserver.Config{Mode: zcserver.ModeDevFuse})
		info := srv.Init()
		Expect(info.OffersIOURing()).To(BeFalse(), "the kernel offers no FUSE_OVER_IO_URING while enable_uring is off: %s", info.String())
		ring, err := ringtest.Start(srv.DevFD(), ringtest.Config{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(ring.Close)
		kmsg, err := openKmsgAtEnd()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(kmsg.Close)
		Expect(ring.Do(ctx, func(t *ringtest.Thread) error { return t.AddQueue(0, 0) })).To(MatchError(unix.EOPNOTSUPP), "io_uring is off for this connection")
		Eventually(kmsg.Lines).WithContext(ctx).WithTimeout(10*time.Second).
			Should(ContainElement(ContainSubstring("fuse-io-uring is disabled by module parameter")), "the refusal is the module parameter's")
	}, SpecTimeout(edgeTimeout))
})

// Before FUSE_INIT is answered the connection has no ring yet.
var _ = Describe("mixed-flags: commands before FUSE_INIT is answered", Label(labels.MixedFlags, labels.ABIUpstream), prioEdge, func() {
	// catches: fuse_uring_cmd's `if (!smp_load_acquire(&fch->initialized))
	// return -EAGAIN;` dropped (the command would get EOPNOTSUPP: io_uring
	// is not on before INIT).
	It("refuses ADD_QUEUE with EAGAIN until the server answered INIT, and accepts it after", func(ctx SpecContext) {
		mnt, err := os.MkdirTemp("", "zc-mnt-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.Remove, mnt)
		fd, err := zcserver.MountFD(mnt, 0, 0, 0)
		Expect(err).NotTo(HaveOccurred(), "mount /dev/fuse without serving it")
		DeferCleanup(unix.Unmount, mnt, unix.MNT_DETACH)
		// The server takes fd over when it starts; until then it is ours.
		owned := true
		DeferCleanup(func() {
			if owned {
				unix.Close(fd)
			}
		})
		ring, err := ringtest.Start(fd, ringtest.Config{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(ring.Close)
		addQueue := func(ctx context.Context) error {
			return ring.Do(ctx, func(t *ringtest.Thread) error { return t.AddQueue(0, 0) })
		}
		// The check comes before cmd_op is looked at, so this holds on
		// kernels without ADD_QUEUE too.
		Expect(addQueue(ctx)).To(MatchError(unix.EAGAIN), "§1.2: INIT is not answered yet")
		srv, err := zcserver.Start(ctx, zcserver.Config{Mode: zcserver.ModeDevFuse, RingInit: true, DevFD: fd, MountPoint: mnt})
		owned = false
		Expect(err).NotTo(HaveOccurred(), "serve the mounted descriptor")
		DeferCleanup(srv.Close)
		info := srv.Init()
		Expect(info.Ring).To(BeTrue(), "INIT reply without FUSE_OVER_IO_URING: %s", info.String())
		r := &rig{ringConn: ringConn{srv: srv, info: info}}
		r.requireBufPool()
		Expect(addQueue(ctx)).To(Succeed(), "positive control: the same ADD_QUEUE on the same connection once INIT is answered")
	}, SpecTimeout(edgeTimeout))
})

// sqe64Cmd submits one FUSE uring_cmd with an all-zero command area from a
// fresh ring without IORING_SETUP_SQE128 and returns its CQE's error.
func sqe64Cmd(devFD int, op linux73.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ring, err := uring.New(4)
	if err != nil {
		return err
	}
	defer ring.Close()
	if ring.SQE128() {
		return fmt.Errorf("ring has SQE128")
	}
	sqe, err := ring.NextSQE()
	if err != nil {
		return err
	}
	sqe.PrepURingCmd(int32(devFD), uint32(op))
	sqe.UserData = 1
	if _, err := ring.Submit(); err != nil {
		return err
	}
	cqe, err := ring.WaitCQE()
	if err != nil {
		return err
	}
	return cqe.Err()
}

// Queues that do not exist, REGISTER's iovec array and per-entry sizes.
var _ = Describe("queue-depth: commands on queues that do not exist, and REGISTER's iovec array", Label(labels.QueueDepth, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = newRig(ctx, zcserver.Config{})
	}, NodeTimeout(edgeTimeout))

	// catches: fuse_uring_commit_fetch's `if (!queue) return err;` dropped
	// (the queue pointer of an in-range qid nobody created is NULL).
	It("refuses COMMIT_AND_FETCH on an in-range qid without a queue with ENOTCONN", func(ctx SpecContext) {
		requireSecondQueue(r.nq)
		_, err := r.register(ctx, 0, r.layout(ringtest.PerEntry, false, 1), nil)
		Expect(err).NotTo(HaveOccurred(), "create qid 0 only")
		commit := linux73.FUSE_IO_URING_CMD_COMMIT_AND_FETCH
		Expect(r.exec(ctx, ringtest.Cmd{Op: commit, Req: linux73.CommitAndFetch(0, 0xdead)})).
			To(MatchError(unix.ENOENT), "positive control: on an existing queue the command reaches the commit_id lookup")
		Expect(r.exec(ctx, ringtest.Cmd{Op: commit, Req: linux73.CommitAndFetch(r.lastQid(), 0xdead)})).
			To(MatchError(unix.ENOTCONN), "§3.4: qid %d has no queue", r.lastQid())
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_add_bufpool's `if (!queue) return -EINVAL;`
	// dropped (the pool would be hung on a NULL queue).
	It("refuses ADD_BUFPOOL on an in-range qid without a queue with EINVAL, and accepts it once ADD_QUEUE created the queue", func(ctx SpecContext) {
		r.requireBufPool()
		sz := r.info.MaxPayloadSz
		mem, err := r.ring.Alloc(int(sz))
		Expect(err).NotTo(HaveOccurred())
		addPool := func(t *ringtest.Thread) error { return t.AddBufpool(&ringtest.Pool{Qid: 0, Mem: mem, BufSize: sz}) }
		Expect(r.do(ctx, addPool)).To(MatchError(unix.EINVAL), "§3.2: qid 0 has no queue yet")
		Expect(r.addQueue(ctx, 0, 0)).To(Succeed())
		Expect(r.do(ctx, addPool)).To(Succeed(), "positive control: the same ADD_BUFPOOL once the queue exists")
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_get_iovec_from_sqe's `if (sqe->len !=
	// FUSE_URING_IOV_SEGS) return -EINVAL;` dropped (import_iovec always
	// reads two iovecs, so the entry would be accepted).
	DescribeTable("refuses a REGISTER whose sqe.len is not 2 with EINVAL, which turns io_uring off",
		func(ctx SpecContext, n uint32) {
			l := r.layout(ringtest.PerEntry, false, 1)
			_, err := r.register(ctx, r.lastQid(), l, nil)
			Expect(err).NotTo(HaveOccurred(), "positive control: the same entry with sqe.len 2")
			_, err = r.register(ctx, 0, l, func(e *ringtest.Entry) { e.IovLen = &n })
			Expect(err).To(MatchError(unix.EINVAL), "§3.3: sqe.len %d", n)
			_, err = r.register(ctx, 0, l, nil)
			Expect(err).To(MatchError(unix.EOPNOTSUPP), "§3.3/H3: the failed REGISTER disabled io_uring")
		},
		Entry("sqe.len 1", uint32(1), SpecTimeout(edgeTimeout)),
		Entry("sqe.len 3", uint32(3), SpecTimeout(edgeTimeout)),
	)

	// catches: fuse_uring_get_iovec_from_sqe's `if (ret < 0) return ret;`
	// dropped (the entry would be built from an iovec array that was
	// never copied in).
	It("refuses a REGISTER whose iovec array is not mapped with EFAULT, which turns io_uring off", func(ctx SpecContext) {
		l := r.layout(ringtest.PerEntry, false, 1)
		_, err := r.register(ctx, r.lastQid(), l, nil)
		Expect(err).NotTo(HaveOccurred(), "positive control: an entry whose iovec array is readable")
		arr, err := r.ring.Alloc(4096)
		Expect(err).NotTo(HaveOccurred())
		_, err = r.register(ctx, 0, l, func(e *ringtest.Entry) {
			iov := unsafe.Slice((*unix.Iovec)(unsafe.Pointer(&arr[0])), linux73.RegisterIovecs)
			copy(iov, linux73.EntryIovecs(e.Header, e.Payload))
			e.Iov = iov
			if err := r.ring.Unmap(arr); err != nil {
				panic(err)
			}
		})
		Expect(err).To(MatchError(unix.EFAULT), "§3.3: sqe.addr points at unmapped memory")
		Expect(r.ring.Remap(arr)).To(Succeed())
		_, err = r.register(ctx, 0, l, nil)
		Expect(err).To(MatchError(unix.EOPNOTSUPP), "§3.3/H3: the failed REGISTER disabled io_uring")
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_create_ring_ent's `if (payload->iov_len <
	// ring->max_payload_sz)` check dropped (the kernel would copy up to
	// max_payload_sz bytes into a shorter buffer), or `<` made `<=` (the
	// control is refused).
	It("refuses a per-entry payload iov one byte shorter than max_payload_sz with EINVAL, which turns io_uring off", func(ctx SpecContext) {
		l := r.layout(ringtest.PerEntry, false, 1)
		_, err := r.register(ctx, r.lastQid(), l, func(e *ringtest.Entry) {
			e.Payload = e.Payload[:r.info.MaxPayloadSz]
		})
		Expect(err).NotTo(HaveOccurred(), "positive control: exactly max_payload_sz (%d) bytes", r.info.MaxPayloadSz)
		_, err = r.register(ctx, 0, l, func(e *ringtest.Entry) { e.Payload = e.Payload[:r.info.MaxPayloadSz-1] })
		Expect(err).To(MatchError(unix.EINVAL), "§3.3 iov[1]: %d bytes", r.info.MaxPayloadSz-1)
		_, err = r.register(ctx, 0, l, nil)
		Expect(err).To(MatchError(unix.EOPNOTSUPP), "§3.3/H3")
	}, SpecTimeout(edgeTimeout))
})

// The reply's headers are read from the entry's header buffer at COMMIT.
var _ = Describe("header-offset: a reply whose headers cannot be read at COMMIT", Label(labels.HeaderOffset, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = newRig(ctx, zcserver.Config{})
	}, NodeTimeout(edgeTimeout))

	stat := func(p string) func() error {
		return func() error {
			var stx unix.Statx_t
			return unix.Statx(unix.AT_FDCWD, p, unix.AT_STATX_FORCE_SYNC, unix.STATX_BASIC_STATS, &stx)
		}
	}

	// commitUnreadable holds qid 0's next GETATTR, answers it, makes gone
	// (part of qid 0's header buffer) unreadable, commits, and returns
	// the client's error; gone is mapped again afterwards.
	commitUnreadable := func(ctx SpecContext, gone []byte) error {
		GinkgoHelper()
		cl := r.clients.Go(0, stat(r.srv.MountPoint()))
		e := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_GETATTR))
		Expect(e.Qid).To(BeEquivalentTo(0))
		Expect(r.do(ctx, func(t *ringtest.Thread) error {
			if _, err := t.Answer(e, r.srv.Handler()); err != nil {
				return err
			}
			if err := r.ring.Unmap(gone); err != nil {
				return err
			}
			_, err := t.Commit(e)
			return err
		})).To(Succeed(), "the COMMIT itself is accepted: the fault is the request's")
		Eventually(cl.Done()).WithContext(ctx).Should(BeClosed())
		Expect(r.ring.Remap(gone)).To(Succeed())
		return cl.Err()
	}

	// catches: fuse_uring_commit's `ssize_t err = -EFAULT;` made 0 (a
	// reply whose out-header cannot be read would end the request as a
	// success with attributes nobody wrote).
	It("fails the request with EFAULT when the out-header at offset 0 cannot be read, and the entry serves the next one", func(ctx SpecContext) {
		ents := r.setup(ctx, r.layout(ringtest.PerEntry, false, 1))
		e0 := ents[0]
		Expect(e0.Qid).To(BeEquivalentTo(0))
		_, err := r.run(ctx, 0, stat(r.srv.MountPoint()))
		Expect(err).NotTo(HaveOccurred(), "positive control: a GETATTR answered the same way")
		Expect(commitUnreadable(ctx, e0.Header[:cap(e0.Header)])).To(MatchError(unix.EFAULT), "§3.4: copy of fuse_out_header fails")
		seen, err := r.run(ctx, 0, stat(r.srv.MountPoint()))
		Expect(err).NotTo(HaveOccurred(), "the entry is available again")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_GETATTR"}))
	}, SpecTimeout(edgeTimeout))

	// catches: copy_header_from_ring's `return -EFAULT;` changed (the
	// errno of a ring_ent_in_out that cannot be read goes to the client
	// as is; the out-header case above does not see it).
	It("fails the request with EFAULT when only ring_ent_in_out at offset 256 cannot be read", func(ctx SpecContext) {
		// qid 0's header buffer straddles a page boundary at offset 256:
		// the out-header stays readable, ring_ent_in_out does not.
		var second []byte
		l := r.layout(ringtest.PerEntry, false, 1)
		l.Edit = func(e *ringtest.Entry) {
			if e.Qid != 0 {
				return
			}
			mem, err := r.ring.Alloc(2 * 4096)
			if err != nil {
				panic(err)
			}
			e.Header = mem[4096-256 : 4096-256+linux73.SizeofReqHeader]
			second = mem[4096 : 2*4096 : 2*4096]
		}
		r.setup(ctx, l)
		Expect(second).NotTo(BeNil())
		_, err := r.run(ctx, 0, stat(r.srv.MountPoint()))
		Expect(err).NotTo(HaveOccurred(), "positive control: the straddling header buffer works while mapped")
		Expect(commitUnreadable(ctx, second)).To(MatchError(unix.EFAULT), "§3.4: copy of fuse_uring_ent_in_out fails")
		seen, err := r.run(ctx, 0, stat(r.srv.MountPoint()))
		Expect(err).NotTo(HaveOccurred(), "the entry is available again")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_GETATTR"}))
	}, SpecTimeout(edgeTimeout))
})
