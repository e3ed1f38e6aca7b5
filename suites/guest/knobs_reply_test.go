package guest

import (
	"fmt"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
)

// knobPayloadCase is one ReplyPayloadSzDelta entry.
type knobPayloadCase struct {
	op    fuseabi.Opcode
	delta int32
	// wantErr is the client's errno; 0 means success with wantN bytes.
	wantErr unix.Errno
	wantN   int
}

// knobReplyCase is one ReplyError entry.
type knobReplyCase struct {
	mode    zcserver.Mode
	raw     int32 // fuse_out_header.error sent for OPEN
	wantErr unix.Errno
}

var _ = Describe("fault knobs: replies", Label(labels.Integrity, labels.ABIUpstream), func() {
	// ABI doc §4.e: payload_sz larger than expected is always EINVAL;
	// smaller is a short READ, and EINVAL for WRITE's fixed 8-byte reply.
	// The files use FOPEN_DIRECT_IO: a short O_DIRECT read without it is
	// completed by the generic code with a buffered read of the rest.
	// catches: ReplyPayloadSzDelta not changing the committed payload_sz.
	DescribeTable("ReplyPayloadSzDelta changes the committed payload_sz",
		func(ctx SpecContext, c knobPayloadCase) {
			srv := integStart(ctx, zcserver.Config{
				Mode: zcserver.ModeRingPerEntry, QueueDepth: 2, DirectIOFiles: zcserver.NamePrefix(""),
				Faults: zcserver.FaultKnobs{ReplyPayloadSzDelta: map[fuseabi.Opcode]int32{c.op: c.delta}},
			})
			p := filepath.Join(srv.MountPoint(), "f")
			if c.op != fuseabi.FUSE_WRITE {
				Expect(knobDirectWrite(p)).To(Succeed(), "positive control: WRITE is untouched")
			}
			since := integLastSeq(srv)
			var n int
			err := <-integOnThread(-1, func() error {
				fd, err := integOpen(p, unix.O_CREAT|unix.O_RDWR|unix.O_DIRECT)
				if err != nil {
					return err
				}
				defer unix.Close(fd)
				b := integBuf(4096, 0)
				if c.op == fuseabi.FUSE_WRITE {
					n, err = unix.Pwrite(fd, b, 0)
				} else {
					n, err = unix.Pread(fd, b, 0)
				}
				return err
			})
			if c.wantErr != 0 {
				Expect(err).To(MatchError(c.wantErr))
			} else {
				Expect(err).NotTo(HaveOccurred())
				Expect(n).To(Equal(c.wantN))
			}
			recs := integRecords(srv, since, integNodeID(p), c.op)
			Expect(recs).NotTo(BeEmpty())
			want := 4096 + c.delta
			if c.op == fuseabi.FUSE_WRITE {
				want = fuseabi.SizeofWriteOut + c.delta
			}
			Expect(recs[0].ReplyPayloadSz).To(BeEquivalentTo(want), "committed payload_sz")
		},
		Entry("READ +1: too large, EINVAL (§4.e)", Label(zcserver.ModeRingPerEntry.String()), SpecTimeout(edgeTimeout),
			knobPayloadCase{op: fuseabi.FUSE_READ, delta: 1, wantErr: unix.EINVAL}),
		Entry("READ -1: a short read (§4.e)", Label(zcserver.ModeRingPerEntry.String()), SpecTimeout(edgeTimeout),
			knobPayloadCase{op: fuseabi.FUSE_READ, delta: -1, wantN: 4095}),
		Entry("WRITE -1: smaller than fuse_write_out, EINVAL (§4.e)", Label(zcserver.ModeRingPerEntry.String()), SpecTimeout(edgeTimeout),
			knobPayloadCase{op: fuseabi.FUSE_WRITE, delta: -1, wantErr: unix.EINVAL}),
		Entry("WRITE +1: too large, EINVAL (§4.e)", Label(zcserver.ModeRingPerEntry.String()), SpecTimeout(edgeTimeout),
			knobPayloadCase{op: fuseabi.FUSE_WRITE, delta: 1, wantErr: unix.EINVAL}),
	)

	// ABI doc §4.e: a negative error passes through to the client; a
	// positive one, or one <= -512, is EINVAL.
	// catches: ReplyError not replacing the reply, on either transport.
	DescribeTable("ReplyError answers OPEN with the given error",
		func(ctx SpecContext, c knobReplyCase) {
			srv := integStart(ctx, zcserver.Config{
				Mode: c.mode, QueueDepth: 2,
				Faults: zcserver.FaultKnobs{ReplyError: map[fuseabi.Opcode]int32{fuseabi.FUSE_OPEN: c.raw}},
			})
			p := filepath.Join(srv.MountPoint(), "f")
			Expect(knobDirectWrite(p)).To(Succeed(), "positive control: CREATE is untouched")
			since := integLastSeq(srv)
			_, err := integOpen(p, unix.O_RDONLY)
			Expect(err).To(MatchError(c.wantErr))
			if c.mode.Ring() {
				recs := integRecords(srv, since, integNodeID(p), fuseabi.FUSE_OPEN)
				Expect(recs).NotTo(BeEmpty())
				Expect(recs[0].ReplyError).To(Equal(c.raw), "fuse_out_header.error committed")
			}
			Expect(srv.Counters().Requests[fuseabi.FUSE_OPEN]).To(BeZero(), "OPEN was answered without dispatching it")
		},
		Entry("devfuse: -EACCES", Label(zcserver.ModeDevFuse.String()), SpecTimeout(edgeTimeout),
			knobReplyCase{zcserver.ModeDevFuse, -int32(unix.EACCES), unix.EACCES}),
		Entry("ring-per-entry: -EACCES", Label(zcserver.ModeRingPerEntry.String()), SpecTimeout(edgeTimeout),
			knobReplyCase{zcserver.ModeRingPerEntry, -int32(unix.EACCES), unix.EACCES}),
		Entry("ring-per-entry: +5 is refused with EINVAL", Label(zcserver.ModeRingPerEntry.String()), SpecTimeout(edgeTimeout),
			knobReplyCase{zcserver.ModeRingPerEntry, 5, unix.EINVAL}),
		Entry("ring-per-entry: -600 is refused with EINVAL", Label(zcserver.ModeRingPerEntry.String()), SpecTimeout(edgeTimeout),
			knobReplyCase{zcserver.ModeRingPerEntry, -600, unix.EINVAL}),
	)

	// ABI doc §3.1, §4.c: a second ADD_QUEUE for an existing qid is EEXIST,
	// whatever its flags.
	// catches: SecondAddQueue not issuing the inconsistent command, or
	// its failure stopping the setup.
	It("SecondAddQueue issues an inconsistent second ADD_QUEUE, refused with EEXIST, and serving goes on",
		Label(zcserver.ModeRingPool.String()), func(ctx SpecContext) {
			srv := integStart(ctx, zcserver.Config{Mode: zcserver.ModeRingPool, QueueDepth: 2, Faults: zcserver.FaultKnobs{SecondAddQueue: true}})
			perQid := map[int][]zcserver.SetupStep{}
			for _, st := range srv.SetupLog() {
				if st.Cmd == linux73.FUSE_IO_URING_CMD_ADD_QUEUE {
					perQid[st.Qid] = append(perQid[st.Qid], st)
				}
			}
			Expect(perQid).To(HaveLen(srv.Queues()))
			for qid, steps := range perQid {
				Expect(steps).To(HaveLen(2), "qid %d", qid)
				Expect(steps[0].Err).NotTo(HaveOccurred())
				Expect(steps[1].Flags).To(Equal(steps[0].Flags^linux73.FUSE_URING_ZERO_COPY), "the second ADD_QUEUE flips FUSE_URING_ZERO_COPY")
				Expect(steps[1].Err).To(MatchError(unix.EEXIST), fmt.Sprint(steps[1]))
			}
			Expect(knobDirectWrite(filepath.Join(srv.MountPoint(), "f"))).To(Succeed())
		}, SpecTimeout(edgeTimeout))
})
