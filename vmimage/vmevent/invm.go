package vmevent

import (
	"os"
)

// InVM reports whether this process runs inside a zcsuite VM: the kernel
// command line carries CmdlineKey, which only the harness puts there.
// When it does not, why says what was found, for a skip's reason. This is
// the one test for "are we in the VM" of every guest-side test.
func InVM() (ok bool, why string) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return false, "cannot read /proc/cmdline: " + err.Error()
	}
	return inVM(string(b))
}

func inVM(cmdline string) (bool, string) {
	if _, ok, _ := ParseCmdline(cmdline); !ok {
		return false, "not inside a zcsuite VM (no " + CmdlineKey + " on the kernel command line)"
	}
	return true, ""
}
