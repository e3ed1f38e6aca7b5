package uringtest

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// RunWithFDCheck runs the tests of m and exits. It snapshots /proc/self/fd
// before and after; any descriptor open afterwards that was not open before
// is printed with its target and turns the exit code into 1, even when all
// tests passed.
func RunWithFDCheck(m *testing.M) {
	// The Go runtime opens its netpoller's epoll and wake-up descriptors
	// on first use and keeps them; start it now (a pipe is pollable) so
	// they are part of the baseline rather than reported as leaks.
	if pr, pw, err := os.Pipe(); err == nil {
		pr.Close()
		pw.Close()
	}
	before, err := openFDs()
	if err != nil {
		fmt.Fprintf(os.Stderr, "uringtest: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	after, err := openFDs()
	if err != nil {
		fmt.Fprintf(os.Stderr, "uringtest: %v\n", err)
		os.Exit(1)
	}
	var leaked []string
	for fd, target := range after {
		if _, ok := before[fd]; !ok {
			leaked = append(leaked, fmt.Sprintf("fd %d -> %s", fd, target))
		}
	}
	if len(leaked) > 0 {
		slices.Sort(leaked)
		fmt.Fprintf(os.Stderr, "FAIL: %d file descriptor(s) leaked by the tests:\n  %s\n",
			len(leaked), strings.Join(leaked, "\n  "))
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// openFDs lists this process's open descriptors with their link targets,
// leaving out the one used to read the directory.
func openFDs() (map[int]string, error) {
	dirFD, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /proc/self/fd: %w", err)
	}
	defer unix.Close(dirFD)
	fds := map[int]string{}
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(dirFD, buf)
		if err != nil {
			return nil, fmt.Errorf("getdents /proc/self/fd: %w", err)
		}
		if n <= 0 {
			break
		}
		var names []string
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
		for _, name := range names {
			fd, err := strconv.Atoi(name)
			if err != nil || fd == dirFD {
				continue
			}
			target, err := os.Readlink("/proc/self/fd/" + name)
			if err != nil {
				target = "?" // closed between the listing and the readlink
			}
			fds[fd] = target
		}
	}
	return fds, nil
}

// KernelVersion returns the running kernel's major and minor version, read
// from uname(2) ("7.3.0-rc7-cloud-amd64" gives 7, 3).
func KernelVersion() (major, minor int, err error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return 0, 0, fmt.Errorf("uname: %w", err)
	}
	rel := unix.ByteSliceToString(u.Release[:])
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("unparsable kernel release %q", rel)
	}
	major, err = strconv.Atoi(parts[0])
	if err != nil {
		return 0, 0, fmt.Errorf("unparsable kernel release %q", rel)
	}
	minorStr := parts[1]
	if i := strings.IndexFunc(minorStr, func(c rune) bool { return c < '0' || c > '9' }); i >= 0 {
		minorStr = minorStr[:i]
	}
	minor, err = strconv.Atoi(minorStr)
	if err != nil {
		return 0, 0, fmt.Errorf("unparsable kernel release %q", rel)
	}
	return major, minor, nil
}

// KernelAtLeast reports whether the running kernel is major.minor or newer.
// A kernel whose release cannot be parsed counts as new enough, so that a
// missing feature fails rather than skips.
func KernelAtLeast(major, minor int) bool {
	ma, mi, err := KernelVersion()
	if err != nil {
		return true
	}
	return ma > major || (ma == major && mi >= minor)
}
