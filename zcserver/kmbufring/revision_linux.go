package kmbufring

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
)

// ProbeRevision tells which REGISTER layout the kernel's FUSE reads: the
// v2 bools or the v3/v4 flags word (ABI doc §1.1). Call it only
// on a kernel where features.HaveKmbufRing succeeded, with the /dev/fuse
// descriptor of a throwaway connection whose INIT asked for
// FUSE_OVER_IO_URING: the probe leaves that connection unusable (a queue
// half set up, or io_uring switched off by a refused REGISTER), so abort
// it afterwards.
//
// It sends two REGISTERs for qid 0 on one ring with a kmbuf ring at bgid
// 0, using only 0/1 bytes (no C bool ever holds another value):
//
//  1. bytes 18,19 = 1,0: buf ring without zero copy for both layouts (v2:
//     use_bufring=1; v3: flags=0x0001). It creates the queue and must be
//     kept; this proves the kernel's FUSE has buf-ring queues, and every
//     precondition of step 2 but the mode.
//  2. bytes 18,19 = 1,1 on the now existing queue: v2 reads zero_copy=1,
//     which differs from the queue's mode, so it refuses with EINVAL (the
//     only check left for an existing queue, §5 c); v3/v4 read
//     flags=0x0101, bit 8 is ignored, the mode matches and the entry is
//     kept.
//
// v3 and v4 cannot be told apart by their bytes (they differ only in
// kernel WARNs); the result is then V3. evidence is a one-line account.
func ProbeRevision(ctx context.Context, devFD int) (rev kmbuf.Revision, evidence string, err error) {
	r, err := Start(devFD, Config{Profile: kmbuf.ProfileV3, Entries: 8})
	if err != nil {
		return 0, "", err
	}
	defer r.Close()
	var first, second error
	err = r.Do(ctx, func(t *Thread) error {
		if err := t.RegisterKmbuf(4096, 1); err != nil {
			return err
		}
		hdrs, err := t.r.Alloc(kmbuf.HeadersLen(1))
		if err != nil {
			return err
		}
		raw := func(b18, b19 uint8) *[kmbuf.SizeofCmdReq]byte {
			var c [kmbuf.SizeofCmdReq]byte
			c[18], c[19] = b18, b19
			return &c
		}
		first = t.Register(&Entry{Qid: 0, ID: 0, Mode: kmbuf.Mode{BufRing: true}, Headers: hdrs, Cmd: raw(1, 0)})
		if first != nil {
			return nil
		}
		second = t.Register(&Entry{Qid: 0, ID: 1, Mode: kmbuf.Mode{BufRing: true}, Headers: hdrs, Cmd: raw(1, 1)})
		return nil
	})
	if err != nil {
		return 0, "", fmt.Errorf("kmbufring: revision probe: %w", err)
	}
	evidence = fmt.Sprintf("REGISTER qid 0 with bytes 18,19 = 1,0: %s; then 1,1 on that queue: %s", answer(first), answer(second))
	switch {
	case first != nil:
		return 0, evidence, fmt.Errorf("kmbufring: revision probe: the kernel registers kmbuf rings but its FUSE refuses a buf-ring REGISTER (%s): %w", evidence, first)
	case second == nil:
		return kmbuf.V3, evidence + " → flags word (v3/v4)", nil
	case errors.Is(second, unix.EINVAL):
		return kmbuf.V2, evidence + " → two bools (v2)", nil
	}
	return 0, evidence, fmt.Errorf("kmbufring: revision probe: unexpected answer (%s): %w", evidence, second)
}

func answer(err error) string {
	if err == nil {
		return "kept"
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return err.Error()
}
