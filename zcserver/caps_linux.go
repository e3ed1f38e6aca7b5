package zcserver

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// capSysAdmin is CAP_SYS_ADMIN's bit (uapi linux/capability.h).
const capSysAdmin = 21

// setThreadCap raises or clears one capability in the effective set of the
// calling OS thread only. capset(2) with pid 0 acts on the caller's own
// credentials, which Linux keeps per thread; the caller must be locked to
// its thread (runtime.LockOSThread) and must never unlock it afterwards,
// or another goroutine could inherit the changed credentials.
func setThreadCap(bit uint, on bool) error {
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

// threadCapEff returns the calling thread's effective capability set as
// /proc/thread-self/status reports it.
func threadCapEff() (uint64, error) {
	return capEffOf("/proc/thread-self/status")
}

func capEffOf(path string) (uint64, error) {
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
