package rawring

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SetThreadCap raises (on) or clears one capability in the effective set
// of the calling OS thread only. capset(2) with pid 0 acts on the caller's
// own credentials, which Linux keeps per thread; the caller must be locked
// to its thread (runtime.LockOSThread) and must never unlock it
// afterwards, or another goroutine could inherit the changed credentials.
// The permitted set is kept, so a cleared capability can be raised again.
func SetThreadCap(bit uint, on bool) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	word, mask := bit/32, uint32(1)<<(bit%32)
	if on {
		if data[word].Permitted&mask == 0 {
			return fmt.Errorf("raise capability %d: not in the permitted set: %w", bit, unix.EPERM)
		}
		data[word].Effective |= mask
	} else {
		data[word].Effective &^= mask
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset (capability %d effective=%v): %w", bit, on, err)
	}
	return nil
}

// SetCapSysAdmin raises (on) or lowers CAP_SYS_ADMIN in the effective set
// of the ring thread only. The thread is never unlocked and ends with the
// Ring, so no other goroutine ever runs with the change.
func (t *Thread) SetCapSysAdmin(on bool) error {
	if err := SetThreadCap(unix.CAP_SYS_ADMIN, on); err != nil {
		return fmt.Errorf("%s: %w", t.r.cfg.Name, err)
	}
	return nil
}

// HasCapSysAdmin reports whether the calling thread has CAP_SYS_ADMIN in
// its effective set.
func HasCapSysAdmin() (bool, error) {
	eff, err := ThreadCapEff()
	if err != nil {
		return false, err
	}
	return eff&(1<<unix.CAP_SYS_ADMIN) != 0, nil
}

// ThreadCapEff returns the calling thread's effective capability set as
// /proc/thread-self/status reports it.
func ThreadCapEff() (uint64, error) {
	const path = "/proc/thread-self/status"
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("%s: no CapEff line", path)
}
