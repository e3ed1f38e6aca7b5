package vmevent

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// CmdlineKey is the kernel command-line parameter that carries the guest
// configuration. Its presence is also the marker guest specs use to know
// they run inside a zcsuite VM.
const CmdlineKey = "zcsuite.cfg"

// GuestConfig tells the guest init what to run. The host puts it on the
// kernel command line, so it must stay small (the whole line is limited to
// 2048 bytes on x86).
type GuestConfig struct {
	// Mode is "suite" (run the guest test binary) or "probe" (say hello and
	// power off at once: the accelerator probe).
	Mode string `json:"m"`
	// Binary is the guest test binary's path inside the initramfs.
	Binary string `json:"b,omitempty"`
	// Args are passed to the guest test binary.
	Args []string `json:"a,omitempty"`
	// TimeoutSec bounds the guest test binary; at the deadline the init
	// dumps the task states (sysrq t, w), kills it and reports.
	TimeoutSec int `json:"t,omitempty"`
	// HungTaskSec, when non-zero, is written to
	// /proc/sys/kernel/hung_task_timeout_secs.
	HungTaskSec int `json:"h,omitempty"`
	// GoTests are plain Go test binaries in the initramfs (ServerTests)
	// that the init runs after the guest suite, each top-level test
	// reported as a spec named "<binary>: <TestName>" (GoTestSpec).
	GoTests []string `json:"g,omitempty"`
	// HostUnixNano is the host's wall clock when it sent the config over
	// the port (ModePort); the guest sets its clock from it, since a guest
	// restored from a snapshot wakes up with the snapshot's time.
	HostUnixNano int64 `json:"n,omitempty"`
	// Verdict makes the guest decide every spec's final verdict itself
	// and print it on the console (GuestVerdict), for a lab that runs no
	// zcsuite host (a LAVA job). The known issues it applies are read
	// from KnownPath when the image carries that file.
	Verdict bool `json:"v,omitempty"`
	// Coverage names kernel source directories (fs/fuse, io_uring) of a
	// gcov kernel: the init resets the counters before the suite and, after
	// it, sends those directories' .gcda files in a Coverage event.
	Coverage []string `json:"cov,omitempty"`
}

// KnownPath is where an image made for a lab carries the known kernel
// issues that apply to its kernel, a JSON list of
// {"Spec", "Reason", "Outcome"} (verdict.Expectation).
const KnownPath = "/zcsuite/known.json"

// Lines of a guest that decides its own verdicts (GuestConfig.Verdict), on
// the console: ResultsStart, then one ResultPrefix line per spec
// ("zcsuite-result: OUTCOME zc-ID spec full text", ID from ResultID), the
// KTAP report, then ResultsEnd with the exit code.
const (
	ResultsStart = "zcsuite-results-start"
	ResultPrefix = "zcsuite-result: "
	ResultsEnd   = "zcsuite-results-end"
)

// ResultID names a spec in a lab's results: "zc-" and the first 12 hex
// digits of the sha256 of its full text. A reader that matches on what the
// console delivered so far (LAVA's) sees a whole ID or none, where a long
// spec name may arrive in pieces.
func ResultID(spec string) string {
	h := sha256.Sum256([]byte(spec))
	return "zc-" + hex.EncodeToString(h[:6])
}

// Modes of the guest init.
const (
	ModeSuite = "suite"
	ModeProbe = "probe"
	// ModePort, on the command line, tells the init to send a Ready event
	// and read its real config (a ModeSuite GuestConfig) as one JSON line
	// from the event port. The host snapshots a VM that is Ready and
	// restores it for later runs, so the command line carries nothing that
	// differs between runs.
	ModePort = "port"
)

// ArgsFDEnv names the descriptor on which a guest test binary started
// before its arguments were known reads them: one JSON array of strings
// and a newline. In ModePort the init starts Binary (when the command-line
// config names one) that way before it says Ready.
const ArgsFDEnv = "ZCSUITE_ARGS_FD"

// Line renders c as the one JSON line the host sends over the port.
func (c GuestConfig) Line() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("vmevent: encode guest config: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseLine decodes a config line read from the port.
func ParseLine(line []byte) (GuestConfig, error) {
	var c GuestConfig
	if err := json.Unmarshal(line, &c); err != nil {
		return c, fmt.Errorf("vmevent: the port's config line is not a guest config: %w", err)
	}
	if c.Mode != ModeSuite {
		return c, fmt.Errorf("vmevent: the port's config has mode %q, want %q", c.Mode, ModeSuite)
	}
	return c, nil
}

// Cmdline renders c as one kernel command-line word.
func (c GuestConfig) Cmdline() (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("vmevent: encode guest config: %w", err)
	}
	return CmdlineKey + "=" + base64.RawURLEncoding.EncodeToString(b), nil
}

// ParseCmdline finds the guest configuration in a kernel command line. ok is
// false when the line has none (not a zcsuite VM).
func ParseCmdline(cmdline string) (c GuestConfig, ok bool, err error) {
	for _, w := range strings.Fields(cmdline) {
		v, found := strings.CutPrefix(w, CmdlineKey+"=")
		if !found {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return c, true, fmt.Errorf("vmevent: %s is not base64: %w", CmdlineKey, err)
		}
		if err := json.Unmarshal(b, &c); err != nil {
			return c, true, fmt.Errorf("vmevent: %s is not a guest config: %w", CmdlineKey, err)
		}
		return c, true, nil
	}
	return c, false, nil
}
