package features

import (
	"errors"
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// ABIFamily is which FUSE-over-io_uring ABI a kernel speaks.
type ABIFamily int

// ABI families.
const (
	// ABIUnknown is returned with an error.
	ABIUnknown ABIFamily = iota
	// ABIUpstream is mainline's ABI: Linux 7.3's buffer pools and zero copy
	// (protocol 7.46) when the kernel states them, or the earlier ring ABI
	// without them (7.2).
	ABIUpstream
	// ABIKmbuf is the out-of-tree kmbuf zero-copy series (some revision).
	ABIKmbuf
)

func (f ABIFamily) String() string {
	switch f {
	case ABIUpstream:
		return "upstream"
	case ABIKmbuf:
		return "kmbuf"
	}
	return "unknown"
}

// ResolveABI decides which ABI family the running kernel speaks, from the
// two things it states about itself: its FUSE_INIT offer in (Linux 7.3 says
// minor 46 and flags2 bit 11, FUSE_HAS_IO_URING_BUFPOOL; the series keeps
// minor 45 and adds no bit) and the answer of the kmbuf ring probe
// (HaveKmbufRing's error). It never guesses: when the statements
// contradict each other, or a probe is itself broken, it returns an error,
// and the caller must fail rather than pick a profile. why is a one-line
// account for reports.
func ResolveABI(in fuseabi.InitInfo, kmbufErr error) (fam ABIFamily, why string, err error) {
	if in.KernelMajor != 7 {
		return ABIUnknown, "", fmt.Errorf("features: INIT major %d: no FUSE INIT was recorded", in.KernelMajor)
	}
	if kmbufErr != nil && !errors.Is(kmbufErr, ErrNotSupported) {
		return ABIUnknown, "", fmt.Errorf("features: the kmbuf ring probe is broken, no ABI can be chosen: %w", kmbufErr)
	}
	bufpool := HaveBufPool(in)
	if bufpool != nil && !errors.Is(bufpool, ErrNotSupported) {
		return ABIUnknown, "", fmt.Errorf("features: the INIT offer is inconsistent, no ABI can be chosen: %w", bufpool)
	}
	kmbufHere := kmbufErr == nil
	offer := fmt.Sprintf("INIT %d.%d flags2 %#x", in.KernelMajor, in.KernelMinor, in.KernelFlags2)
	switch {
	case kmbufHere && bufpool == nil:
		return ABIUnknown, "", fmt.Errorf("features: the kernel states both ABIs (%s has FUSE_HAS_IO_URING_BUFPOOL, and register opcode 37 registers kmbuf rings); refusing to choose", offer)
	case kmbufHere && in.KernelMinor >= 46:
		return ABIUnknown, "", fmt.Errorf("features: register opcode 37 registers kmbuf rings but %s has minor >= 46 without FUSE_HAS_IO_URING_BUFPOOL; refusing to choose", offer)
	case kmbufHere:
		return ABIKmbuf, offer + " (no FUSE_HAS_IO_URING_BUFPOOL); register opcode 37 registers kmbuf rings (EEXIST for a taken group, confirmed by a mapped ring)", nil
	case bufpool == nil:
		return ABIUpstream, offer + " states the 7.46 buffer-pool ABI; register opcode 37 is not a kmbuf ring register (EINVAL)", nil
	}
	return ABIUpstream, offer + " has no FUSE_HAS_IO_URING_BUFPOOL (a ring ABI before 7.3); register opcode 37 is not a kmbuf ring register (EINVAL)", nil
}
