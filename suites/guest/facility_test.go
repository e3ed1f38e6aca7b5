package guest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/sys/unix"
)

// facility is a kernel facility outside the feature under test that a
// spec's set-up needs (a socket family, a syscall). A kernel built without
// it (a minimal config) cannot run that spec: the set-up skips, naming the
// options, instead of failing. FUSE and io_uring are never facilities:
// their errnos are what the specs judge (TestFacilitiesOutsideTheFeature).
type facility struct {
	// call is the set-up's system call, as the skip message names it.
	call string
	// options are the kernel options that build it.
	options string
}

// Facilities the guest set-up uses.
var (
	// unixSockets: socketpair(2) needs CONFIG_NET (ENOSYS without it),
	// and the AF_UNIX family CONFIG_UNIX (EAFNOSUPPORT without it).
	unixSockets = facility{call: "socketpair(AF_UNIX)", options: "CONFIG_NET and CONFIG_UNIX"}
)

// facilities lists every facility, for the test below.
var facilities = []facility{unixSockets}

// absentErrnos are the answers of a kernel built without a facility: no
// such system call, address family or protocol. Nothing else (EINVAL,
// EPERM, ...) says a facility is missing.
var absentErrnos = []unix.Errno{unix.ENOSYS, unix.EAFNOSUPPORT, unix.EPROTONOSUPPORT}

// absent returns the skip reason when err says the kernel lacks f.
func (f facility) absent(err error) (string, bool) {
	for _, e := range absentErrnos {
		if errors.Is(err, e) {
			return fmt.Sprintf("the kernel lacks %s: %s gave %s (%v)", f.options, f.call, unix.ErrnoName(e), e), true
		}
	}
	return "", false
}

// need skips the spec when err, from f's call in the spec's set-up, says
// the kernel lacks f; it returns any other error for the spec to fail on.
func (f facility) need(err error) error {
	GinkgoHelper()
	if why, ok := f.absent(err); ok {
		Skip(why)
	}
	return err
}

// TestFacilitiesOutsideTheFeature keeps the feature's own errnos out of
// the skips: no facility may be built by FUSE or io_uring options, and
// only the absent errnos make a skip.
func TestFacilitiesOutsideTheFeature(t *testing.T) {
	for _, f := range facilities {
		for _, opt := range []string{"CONFIG_FUSE", "CONFIG_IO_URING"} {
			if strings.Contains(f.options, opt) || strings.Contains(strings.ToLower(f.call), "fuse") || strings.Contains(f.call, "io_uring") {
				t.Errorf("facility %q (%s) is part of the feature under test: its errnos must fail specs, not skip them", f.call, f.options)
			}
		}
	}
	why, ok := unixSockets.absent(fmt.Errorf("set-up: %w", unix.ENOSYS))
	if !ok || !strings.Contains(why, "CONFIG_NET and CONFIG_UNIX") || !strings.Contains(why, "ENOSYS") {
		t.Errorf("ENOSYS: %q %v", why, ok)
	}
	if why, ok := unixSockets.absent(unix.EAFNOSUPPORT); !ok || !strings.Contains(why, "EAFNOSUPPORT") {
		t.Errorf("EAFNOSUPPORT: %q %v", why, ok)
	}
	for _, err := range []error{nil, unix.EINVAL, unix.EPERM, unix.EMFILE, errors.New("ENOSYS")} {
		if why, ok := unixSockets.absent(err); ok {
			t.Errorf("%v made a skip: %s", err, why)
		}
	}
}
