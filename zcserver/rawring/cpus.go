package rawring

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// possibleCPUsPath lists the CPUs the kernel may ever bring online; FUSE
// sizes its io_uring queues from their count (num_possible_cpus(), ABI doc
// §1.2, §8).
const possibleCPUsPath = "/sys/devices/system/cpu/possible"

// PossibleCPUs returns the number of possible CPUs, which is the number of
// FUSE io_uring queues (qids 0..n-1) of every connection.
func PossibleCPUs() (int, error) {
	b, err := os.ReadFile(possibleCPUsPath)
	if err != nil {
		return 0, err
	}
	n, err := countCPUList(string(b))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", possibleCPUsPath, err)
	}
	return n, nil
}

// countCPUList counts the CPUs of a kernel cpulist ("0-3,5,7-8\n").
func countCPUList(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty cpu list")
	}
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0, fmt.Errorf("bad cpu list element %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("bad cpu range %q", part)
			}
		}
		n += b - a + 1
	}
	return n, nil
}
