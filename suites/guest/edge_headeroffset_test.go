package guest

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
	"github.com/zcsuite/zcsuite/zcserver/ringtest"
)

// poison marks memory the kernel must not write.
const poison = 0xee

// Edge case (d), ABI doc §2.4, §4.d: headers live in each entry's own
// 288-byte header buffer at fixed offsets; payloads in the entry's
// payload buffer or at pool base + offset; registered pools are named by
// IORING_URING_CMD_FIXED + buf_index.
var _ = Describe("header-offset: where headers and payloads are placed", Label(labels.HeaderOffset, labels.ABIUpstream), prioEdge, func() {
	var r *rig

	BeforeEach(func(ctx SpecContext) {
		r = newRig(ctx, zcserver.Config{})
	}, NodeTimeout(edgeTimeout))

	// catches: ring_header_type_offset (or the write order in
	// fuse_uring_copy_to_ring) putting a header part at another offset,
	// or the kernel writing past the 288-byte header struct.
	It("writes fuse_in_header, op_in and ring_ent_in_out at 0, 128 and 256 of the entry's header buffer, the payload at the start of its payload buffer, and nothing past 288 bytes", func(ctx SpecContext) {
		l := r.layout(ringtest.PerEntry, false, 1)
		l.Edit = func(e *ringtest.Entry) {
			fill(e.Header[linux73.SizeofReqHeader:cap(e.Header)], poison)
			fill(e.Payload, poison)
		}
		r.setup(ctx, l)
		data := pattern(5000, 4)
		c := r.clients.Go(0, writeFile(r.path(dioPrefix+"layout"), 4096, data))
		e := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_WRITE))
		Expect(e.Qid).To(BeEquivalentTo(0), "client on CPU 0")
		Expect(e.In.Opcode).To(Equal(fuseabi.FUSE_WRITE), "fuse_in_header at offset 0")
		Expect(e.In.Len).To(BeEquivalentTo(fuseabi.SizeofInHeader+fuseabi.SizeofWriteIn+len(data)), "§2.4: 40 + all in-arguments")
		wi, ok := fuseabi.Load[fuseabi.WriteIn](e.OpIn())
		Expect(ok).To(BeTrue())
		Expect(wi.Size).To(BeEquivalentTo(len(data)), "fuse_write_in at offset 128")
		Expect(wi.Offset).To(BeEquivalentTo(4096))
		Expect(e.Ent.CommitID).To(Equal(e.In.Unique), "ring_ent_in_out at offset 256: commit_id = unique")
		Expect(e.Ent.PayloadSz).To(BeEquivalentTo(len(data)))
		Expect(e.Ent.Offset).To(BeZero(), "§4.d: always 0 in per-entry mode (padding on 7.2)")
		Expect(e.Ent.Flags).To(BeZero(), "copied")
		Expect(e.Payload[:len(data)]).To(Equal(data), "payload at the start of iov[1]")
		Expect(allBytes(e.Payload[len(data):], poison)).To(BeTrue(), "nothing past payload_sz in iov[1]")
		Expect(allBytes(e.Header[linux73.SizeofReqHeader:cap(e.Header)], poison)).To(BeTrue(), "nothing past the 288-byte header")
		answerCommit(ctx, r, e)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed())
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_select_buffer always returning buffer 0, not the
	// lowest free one, or offset computed as buf_id instead of
	// buf_id * max_payload_sz; or headers copied into the pool.
	It("reports pool offset buf_id * max_payload_sz for concurrent payload requests, reuses the lowest free buffer, and puts only payload into the pool", func(ctx SpecContext) {
		r.requireBufPool()
		sz := r.info.MaxPayloadSz
		l := r.layout(ringtest.PoolMode, false, 3)
		ents := r.setup(ctx, l)
		pool := ents[0].Pool()
		fill(pool.Mem, poison)
		a := r.clients.Go(0, r.lookupENOENT("ho-a"))
		ea := r.serveUntil(ctx, isLookupOf("ho-a"))
		b := r.clients.Go(0, r.lookupENOENT("ho-b"))
		eb := r.serveUntil(ctx, isLookupOf("ho-b"))
		Expect(ea.Ent.Offset).To(BeZero(), "§4.d: first buffer")
		Expect(eb.Ent.Offset).To(Equal(sz), "§4.d: second concurrent request, buffer 1")
		Expect(ea.Ent.PayloadSz).To(BeEquivalentTo(len("ho-a\x00")))
		Expect(string(pool.Mem[:5])).To(Equal("ho-a\x00"))
		Expect(string(pool.Mem[sz : sz+5])).To(Equal("ho-b\x00"))
		Expect(allBytes(pool.Mem[5:sz], poison)).To(BeTrue(), "§4.d: no header bytes in buffer 0")
		Expect(allBytes(pool.Mem[sz+5:], poison)).To(BeTrue(), "nothing in buffer 1 past the name, nothing in buffer 2")
		answerCommit(ctx, r, ea)
		Eventually(a.Done()).WithContext(ctx).Should(BeClosed())
		c := r.clients.Go(0, r.lookupENOENT("ho-c"))
		ec := r.serveUntil(ctx, isLookupOf("ho-c"))
		Expect(ec.Ent.Offset).To(BeZero(), "§4.d: buffer 0 was given back and is the lowest free one")
		answerCommit(ctx, r, eb)
		answerCommit(ctx, r, ec)
		for _, cl := range []*ringtest.Client{a, b, c} {
			r.serveClient(ctx, cl)
			Expect(cl.Err()).To(Succeed())
		}
	}, SpecTimeout(edgeTimeout))

	// catches: fuse_uring_req_has_copyable_payload counting a zero-copied
	// READ (which would consume a pool buffer and report its offset), or
	// not counting a zero-copied WRITE's fuse_write_out reply.
	It("reports offset 0 and no pool buffer for a zero-copied READ, and assigns a buffer and its offset to a zero-copied WRITE", func(ctx SpecContext) {
		r.requireBufPool()
		sz := r.info.MaxPayloadSz
		l := r.layout(ringtest.PoolMode, true, 2)
		r.setup(ctx, l)
		content := pattern(8192, 5)
		r.createFile(zcPrefix+"offsets", content)
		x := r.clients.Go(0, r.lookupENOENT("ho-hold"))
		ex := r.serveUntil(ctx, isLookupOf("ho-hold"))
		Expect(ex.Ent.Offset).To(BeZero(), "the held LOOKUP has buffer 0")
		got := make([]byte, len(content))
		data := pattern(4096, 6)
		c := r.clients.Go(0, func() error {
			if err := readFile(r.path(zcPrefix+"offsets"), 0, got)(); err != nil {
				return err
			}
			return writeFile(r.path(zcPrefix+"offsets"), 8192, data)()
		})
		er := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_READ))
		Expect(er.ZeroCopy()).To(BeTrue())
		Expect(er.Ent.Offset).To(BeZero(), "§4.d: zero-copied READ, no pool buffer")
		Expect(er.Ent.PayloadSz).To(BeZero())
		answerCommit(ctx, r, er)
		ew := r.serveUntil(ctx, isOpcode(fuseabi.FUSE_WRITE))
		Expect(ew.ZeroCopy()).To(BeTrue())
		Expect(ew.Ent.Offset).To(Equal(sz), "§4.d: the WRITE's reply needs a buffer; 0 is held, so buffer 1")
		answerCommit(ctx, r, ew)
		r.serveClient(ctx, c)
		Expect(c.Err()).To(Succeed())
		Expect(got).To(Equal(content))
		answerCommit(ctx, r, ex)
		r.serveClient(ctx, x)
		Expect(x.Err()).To(Succeed())
	}, SpecTimeout(edgeTimeout))

	// Each case answers a LOOKUP on a registered pool and commits it with
	// a wrong FIXED/buf_index first: the COMMIT is refused, the request
	// stays with the server, and a correct COMMIT completes it.
	DescribeTable("refuses a COMMIT on a registered pool whose FIXED/buf_index does not match, with EINVAL, leaving the request committable",
		func(ctx SpecContext, c commitIndex) {
			r.requireBufPool()
			r.setup(ctx, r.layout(ringtest.RegisteredPool, false, 1))
			cl := r.clients.Go(0, r.lookupENOENT("ho-fixed"))
			e := r.serveUntil(ctx, isLookupOf("ho-fixed"))
			a := e.CommitArgs()
			Expect(a.Fixed).To(BeTrue())
			c.edit(&a)
			Expect(r.do(ctx, func(t *ringtest.Thread) error {
				if _, err := t.Answer(e, r.srv.Handler()); err != nil {
					return err
				}
				_, err := t.CommitWith(e, a)
				return err
			})).To(MatchError(unix.EINVAL), "§3.4: FIXED %v buf_index %d, pool slot %d", a.Fixed, a.BufIndex, ringtest.PoolSlot(0))
			Consistently(cl.Finished).WithContext(ctx).WithTimeout(blockedFor).Should(BeFalse(), "the request is still the server's")
			Expect(r.do(ctx, func(t *ringtest.Thread) error {
				_, err := t.Commit(e)
				return err
			})).To(Succeed(), "the correct COMMIT")
			r.serveClient(ctx, cl)
			Expect(cl.Err()).To(Succeed(), "the client got the server's answer")
		},
		// catches: fuse_uring_commit_fetch skipping fuse_uring_cmd_index_ok
		// (the reply would be imported through another or no buffer).
		Entry("without IORING_URING_CMD_FIXED (§3.4, §4.c, §4.d)", commitIndex{edit: func(a *ringtest.CommitArgs) { a.Fixed = false }}, SpecTimeout(edgeTimeout)),
		// catches: fuse_uring_cmd_index_ok checking only the FIXED flag.
		Entry("with FIXED and another buf_index (§3.4, §4.c, §4.d)", commitIndex{edit: func(a *ringtest.CommitArgs) { a.BufIndex++ }}, SpecTimeout(edgeTimeout)),
	)

	// catches: a failed registered-pool import (io_uring_cmd_import_fixed)
	// being ignored, or the entry not returning to the available list
	// after the failed delivery.
	It("fails a payload request with EFAULT, and no CQE, while the registered pool's slot is empty, and serves again once it is refilled", func(ctx SpecContext) {
		r.requireBufPool()
		ents := r.setup(ctx, r.layout(ringtest.RegisteredPool, false, 1))
		pool := ents[0].Pool()
		Expect(pool.Qid).To(BeEquivalentTo(0))
		setSlot(ctx, r, pool.Slot, nil)
		seen, err := r.run(ctx, 0, statErr(r.path("ho-empty-slot")))
		Expect(err).To(MatchError(unix.EFAULT), "§3.2: import from an empty slot")
		Expect(seen).NotTo(ContainElement(HaveField("Opcode", "FUSE_LOOKUP")), "the failed LOOKUP never reached the server")
		setSlot(ctx, r, pool.Slot, pool.Mem)
		seen, err = r.run(ctx, 0, r.lookupENOENT("ho-refilled"))
		Expect(err).NotTo(HaveOccurred(), "the entry is back and the pool imports again")
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_LOOKUP"}))
	}, SpecTimeout(edgeTimeout))

	// catches: FUSE checking IORING_URING_CMD_FIXED/buf_index on queues
	// without a registered pool (per-entry mode), on 7.3 or 7.2.
	It("ignores IORING_URING_CMD_FIXED and buf_index on REGISTER and COMMIT in per-entry mode", func(ctx SpecContext) {
		l := r.layout(ringtest.PerEntry, false, 1)
		l.Edit = func(e *ringtest.Entry) { e.Fixed, e.BufIndex = true, 3 }
		r.setup(ctx, l)
		seen, err := r.run(ctx, 0, r.lookupENOENT("ho-fixed-per-entry"))
		Expect(err).NotTo(HaveOccurred())
		Expect(seen).To(ContainElement(served{Qid: 0, Opcode: "FUSE_LOOKUP"}))
	}, SpecTimeout(edgeTimeout))
})

// commitIndex is one wrong COMMIT of the registered-pool table.
type commitIndex struct {
	edit func(*ringtest.CommitArgs)
}

// isOpcode selects requests of opcode op.
func isOpcode(op fuseabi.Opcode) func(*ringtest.Entry) bool {
	return func(e *ringtest.Entry) bool { return e.Opcode() == op }
}

// answerCommit answers e with the server's handler and commits it.
func answerCommit(ctx SpecContext, r *rig, e *ringtest.Entry) {
	GinkgoHelper()
	Expect(r.do(ctx, func(t *ringtest.Thread) error {
		if _, err := t.Answer(e, r.srv.Handler()); err != nil {
			return err
		}
		_, err := t.Commit(e)
		return err
	})).To(Succeed(), "answer and commit %v", e)
}

// statErr is a client that stats p and returns stat's error as is.
func statErr(p string) func() error {
	return func() error {
		var st unix.Stat_t
		return unix.Stat(p, &st)
	}
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

func allBytes(b []byte, v byte) bool {
	for _, x := range b {
		if x != v {
			return false
		}
	}
	return true
}
