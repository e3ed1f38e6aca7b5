package features

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// TestProbeKmbufRingHost runs the real probe on the build host, whose
// kernel does not carry the out-of-tree series (no released kernel does):
// it must say "absent" with EINVAL, and leave no descriptor behind.
func TestProbeKmbufRingHost(t *testing.T) {
	if os.Getenv("ZCSUITE_KMBUF_HOST") == "1" {
		t.Skip("ZCSUITE_KMBUF_HOST=1: this host runs a kernel with the kmbuf series")
	}
	fds := openFDs(t)
	p, err := ProbeKmbufRing()
	if errors.Is(err, uring.ErrNotSupported) {
		t.Skipf("no io_uring on this host: %v", err)
	}
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("probe on a kernel without the series: %v (%s)", err, p)
	}
	if p.Occupied != unix.EINVAL || p.Confirmed {
		t.Fatalf("probe: %+v", p)
	}
	if n := openFDs(t); n != fds {
		t.Fatalf("%d descriptors open after the probe, %d before", n, fds)
	}
	t.Logf("%s", p)
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

func TestResolveABI(t *testing.T) {
	k73 := protocol.InitInfo{KernelMajor: 7, KernelMinor: 46, KernelFlags2: 0xfff}
	k72 := protocol.InitInfo{KernelMajor: 7, KernelMinor: 45, KernelFlags2: 0x7ff}
	odd := protocol.InitInfo{KernelMajor: 7, KernelMinor: 45, KernelFlags2: 0xfff}
	absent := &NotSupportedError{Feature: KmbufRing, Detail: "EINVAL"}
	broken := errors.New("probe broken")
	cases := []struct {
		name  string
		in    protocol.InitInfo
		kmbuf error
		want  ABIFamily
		fails bool
	}{
		{"Debian 7.3: bufpool offered, 37 is the BPF filter", k73, absent, ABIUpstream, false},
		{"Debian 7.2: no bufpool, 37 is the BPF filter", k72, absent, ABIUpstream, false},
		{"the series on 7.2: minor 45, 37 registers kmbuf rings", k72, nil, ABIKmbuf, false},
		{"both stated", k73, nil, ABIUnknown, true},
		{"kmbuf with a minor >= 46 but no bufpool bit", protocol.InitInfo{KernelMajor: 7, KernelMinor: 46, KernelFlags2: 0x7ff}, nil, ABIUnknown, true},
		{"inconsistent INIT", odd, absent, ABIUnknown, true},
		{"broken kmbuf probe", k72, broken, ABIUnknown, true},
		{"no INIT recorded", protocol.InitInfo{}, absent, ABIUnknown, true},
	}
	for _, c := range cases {
		fam, why, err := ResolveABI(c.in, c.kmbuf)
		if fam != c.want || (err != nil) != c.fails {
			t.Errorf("%s: %s %q %v", c.name, fam, why, err)
		}
		if err == nil && why == "" {
			t.Errorf("%s: no reason", c.name)
		}
	}
}
