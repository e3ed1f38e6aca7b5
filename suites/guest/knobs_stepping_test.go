package guest

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

var _ = Describe("ring stepping API", Label(labels.Integrity, labels.ABIUpstream, zcserver.ModeRingPerEntry.String()), func() {
	var srv *zcserver.Server

	BeforeEach(func(ctx SpecContext) {
		srv = integStart(ctx, zcserver.Config{Mode: zcserver.ModeRingPerEntry, QueueDepth: 2, ManualRing: true})
	}, NodeTimeout(edgeTimeout))

	// ABI doc §3.3: a successful REGISTER posts no CQE; the SQE's CQE is
	// the first request delivered to the entry.
	// catches: a stepping API that cannot tell an accepted REGISTER from a
	// refused one, or loses deliveries made before Serve.
	It("registers entries by hand, answers requests one by one, then serves", func(ctx SpecContext) {
		abi746 := features.HaveBufPool(srv.Init()) == nil
		for qid := range srv.Queues() {
			d, err := srv.Ring(qid)
			Expect(err).NotTo(HaveOccurred())
			if abi746 {
				Expect(d.AddQueue(uint16(qid), 0)).To(Succeed())
			}
			for range 2 {
				e, err := d.Register(zcserver.RegisterArgs{Qid: uint16(qid), AllocPayload: true})
				Expect(err).NotTo(HaveOccurred())
				Expect(e.State()).To(Equal(zcserver.EntryWaiting), "an accepted REGISTER leaves the entry waiting")
			}
		}
		// The ring is ready: a client on CPU 0 is served through queue 0,
		// which nobody serves yet.
		p := filepath.Join(srv.MountPoint(), "stepped")
		client := knobDirectWriteOn(0, p)
		d0, err := srv.Ring(0)
		Expect(err).NotTo(HaveOccurred())
		dl, err := d0.Await(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(dl.Entry.Qid).To(BeZero())
		Expect(dl.Entry.State()).To(Equal(zcserver.EntryDelivered))
		Expect(dl.Ent.CommitID).To(Equal(dl.InHeader.Unique), "commit_id equals the unique (§2.4)")
		// O_CREAT of a new name looks it up first; the name is the payload.
		Expect(dl.InHeader.Opcode).To(Equal(fuseabi.FUSE_LOOKUP))
		Expect(string(dl.Payload)).To(Equal("stepped\x00"))

		// §3.4: an unknown commit_id is refused at once with ENOENT and the
		// request stays with the server; a correct commit is accepted.
		bogus := dl.Ent.CommitID + 1000
		Expect(d0.Answer(dl, zcserver.AnswerArgs{CommitID: &bogus})).To(MatchError(unix.ENOENT))
		Expect(dl.Entry.State()).To(Equal(zcserver.EntryDelivered))
		Expect(d0.Answer(dl, zcserver.AnswerArgs{Error: -int32(unix.ENOENT)})).To(Succeed(), "a negative LOOKUP")

		dl, err = d0.Await(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(dl.InHeader.Opcode).To(Equal(fuseabi.FUSE_CREATE))
		Expect(d0.ServeDelivery(dl)).To(Succeed())
		for qid := range srv.Queues() {
			d, err := srv.Ring(qid)
			Expect(err).NotTo(HaveOccurred())
			Expect(d.Serve()).To(Succeed())
		}
		Expect(integAwait(ctx, client)).To(Succeed())
		Expect(srv.Counters().Requests[fuseabi.FUSE_WRITE]).To(BeNumerically(">=", 1))
	}, SpecTimeout(edgeTimeout))

	// ABI doc §3.3: a header iov shorter than 288 bytes is refused at once.
	// catches: Register reporting a refused REGISTER as accepted.
	It("reports a REGISTER refused at submission with its errno", func(ctx SpecContext) {
		d, err := srv.Ring(0)
		Expect(err).NotTo(HaveOccurred())
		e, err := d.Register(zcserver.RegisterArgs{Qid: 0, AllocPayload: true, HeaderLen: 287})
		Expect(err).To(MatchError(unix.EINVAL))
		Expect(e.State()).To(Equal(zcserver.EntryEnded))
		Expect(e.Err()).To(MatchError(unix.EINVAL))
	}, SpecTimeout(edgeTimeout))
})
