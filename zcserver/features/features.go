package features

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// ErrNotSupported marks a feature the kernel does not have.
var ErrNotSupported = errors.New("not supported by this kernel")

// Feature names a kernel feature and the first mainline release with it.
type Feature struct {
	Name  string
	Since string // "7.3"
}

// Known features.
var (
	// IOURing is FUSE-over-io_uring itself, offered when fuse.enable_uring
	// is on (flags2 bit 9).
	IOURing = Feature{Name: "FUSE_OVER_IO_URING (fuse.enable_uring on)", Since: "6.14"}
	// BufPool is the 7.46 ABI: ADD_QUEUE, ADD_BUFPOOL, zero copy (flags2
	// bit 11, minor >= 46; upstream ABI §1.2, §6).
	BufPool = Feature{Name: "FUSE io_uring buffer pools and zero copy (FUSE 7.46, FUSE_HAS_IO_URING_BUFPOOL)", Since: "7.3"}
)

// NotSupportedError is an absent feature.
type NotSupportedError struct {
	Feature Feature
	// Detail says what the kernel showed.
	Detail string
}

func (e *NotSupportedError) Error() string {
	return fmt.Sprintf("%s: %v (%s; first in Linux %s)", e.Feature.Name, ErrNotSupported, e.Detail, e.Feature.Since)
}

func (e *NotSupportedError) Unwrap() error { return ErrNotSupported }

// HaveIOURing probes FUSE-over-io_uring from an INIT exchange.
func HaveIOURing(in fuseabi.InitInfo) error {
	if in.KernelMajor != 7 {
		return fmt.Errorf("features: INIT major %d is not 7: the exchange is not a FUSE INIT", in.KernelMajor)
	}
	if !in.OffersIOURing() {
		return &NotSupportedError{Feature: IOURing, Detail: fmt.Sprintf("INIT flags2 %#x lacks bit 9", in.KernelFlags2)}
	}
	return nil
}

// HaveBufPool probes the 7.46 buffer-pool / zero-copy ABI. The two facts
// the kernel states (minor >= 46 and flags2 bit 11) must agree; if they do
// not, the kernel contradicts itself and that is an error, not an absence.
func HaveBufPool(in fuseabi.InitInfo) error {
	if err := HaveIOURing(in); err != nil {
		return err
	}
	bit := in.KernelOffered()&fuseabi.FUSE_HAS_IO_URING_BUFPOOL != 0
	minor := in.KernelMinor >= 46
	switch {
	case bit && minor:
		return nil
	case !bit && !minor:
		return &NotSupportedError{Feature: BufPool, Detail: fmt.Sprintf("INIT minor %d, flags2 %#x lacks bit 11", in.KernelMinor, in.KernelFlags2)}
	default:
		return fmt.Errorf("features: INIT minor %d and FUSE_HAS_IO_URING_BUFPOOL=%v disagree", in.KernelMinor, bit)
	}
}

// RequireOnRelease turns an absence into a failure on kernels at least as
// new as the feature's first release: there, missing means broken.
func RequireOnRelease(err error, release string) error {
	var ns *NotSupportedError
	if !errors.As(err, &ns) {
		return err
	}
	if AtLeast(release, ns.Feature.Since) {
		// Deliberately not wrapping err: the result must not match
		// ErrNotSupported, or a caller would skip instead of failing.
		return fmt.Errorf("kernel %s is at least %s, so the absence is a bug: %v: %w", release, ns.Feature.Since, err, ErrFeatureMissing)
	}
	return err
}

// ErrFeatureMissing marks a feature absent from a kernel that should have
// it.
var ErrFeatureMissing = errors.New("feature missing on a kernel that should have it")

// AtLeast compares the leading "major.minor" of a kernel release with want.
func AtLeast(release, want string) bool {
	rm, rn, ok1 := majorMinor(release)
	wm, wn, ok2 := majorMinor(want)
	if !ok1 || !ok2 {
		return false
	}
	return rm > wm || rm == wm && rn >= wn
}

func majorMinor(s string) (int, int, bool) {
	end := strings.IndexFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	if end >= 0 {
		s = s[:end]
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return 0, 0, false
	}
	a, err1 := strconv.Atoi(parts[0])
	b, err2 := strconv.Atoi(parts[1])
	return a, b, err1 == nil && err2 == nil
}
