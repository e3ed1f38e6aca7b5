package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/spectime"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// reportPath is where the guest suite writes its Ginkgo JSON report.
const reportPath = "/tmp/zcsuite-report.json"

// endMarker is written to /dev/kmsg after the suite; the kmsg relay stops
// once it has forwarded it, so every earlier kernel line reaches the host.
const endMarker = "zcsuite: end of run"

func main() {
	setupMounts()
	out := openEventPort()
	var evOut io.Writer = out
	var rec *recorder
	cmdline, _ := os.ReadFile("/proc/cmdline")
	if cfg, ok, _ := vmevent.ParseCmdline(string(cmdline)); ok && cfg.Verdict {
		rec = &recorder{}
		evOut = io.MultiWriter(out, rec)
	}
	ev := vmevent.NewWriter(evOut)
	code, hostOnPort := run(ev, out)
	if rec != nil {
		// No host reads the events: the guest's verdict is final.
		code = printVerdict(os.Stdout, rec, code)
	}
	ev.Write(vmevent.Event{Type: vmevent.Done, Code: code})
	unix.Sync()
	if hostOnPort {
		awaitDoneAck(out)
	}
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	// reboot(2) does not return on success; if it did, hold PID 1 so the
	// kernel does not panic on init's exit and the host times out instead.
	select {}
}

func setupMounts() {
	type mnt struct{ src, dir, fstype, data string }
	for _, m := range []mnt{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", ""},
		{"tmpfs", "/tmp", "tmpfs", "mode=1777"},
		{"tmpfs", "/run", "tmpfs", "mode=755"},
		{"fusectl", "/sys/fs/fuse/connections", "fusectl", ""},
	} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.src, m.dir, m.fstype, 0, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			fmt.Fprintf(os.Stderr, "zcinit: mount %s on %s: %v\n", m.fstype, m.dir, err)
		}
	}
}

// openEventPort finds the virtio-serial port by name; without one the
// events go to the console, where the host can still read them. The port
// is opened for reading too: a ModePort guest reads its config from it.
func openEventPort() io.ReadWriter {
	names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || strings.TrimSpace(string(b)) != vmevent.PortName {
			continue
		}
		dev := "/dev/" + filepath.Base(filepath.Dir(n))
		f, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err == nil {
			return f
		}
		fmt.Fprintf(os.Stderr, "zcinit: open %s: %v\n", dev, err)
	}
	fmt.Fprintf(os.Stderr, "zcinit: no virtio port %q; events go to the console\n", vmevent.PortName)
	return struct {
		io.Reader
		io.Writer
	}{os.Stdin, os.Stdout}
}

// awaitDoneAck waits until the host has read the whole stream, Done
// included (it answers vmevent.DoneAck), or vmevent.DoneAckWait passed.
func awaitDoneAck(port io.Reader) {
	got := make(chan struct{})
	go func() {
		line, _ := bufio.NewReader(port).ReadString('\n')
		if line == vmevent.DoneAck {
			close(got)
		}
	}()
	select {
	case <-got:
	case <-time.After(vmevent.DoneAckWait):
	}
}

type hello struct {
	Release  string `json:"release"`
	NumCPU   int    `json:"num_cpu"`
	Possible string `json:"possible_cpus"`
	Cmdline  string `json:"cmdline"`
}

// run runs what the config asks for and returns the guest's exit code,
// and whether the host talks on the port (it then acknowledges Done).
func run(ev *vmevent.Writer, port io.Reader) (int, bool) {
	cmdline, _ := os.ReadFile("/proc/cmdline")
	cfg, ok, err := vmevent.ParseCmdline(string(cmdline))
	if err != nil || !ok {
		ev.Write(vmevent.Event{Type: vmevent.Log, Text: fmt.Sprintf("zcinit: no usable %s on the command line: %v", vmevent.CmdlineKey, err)})
		return 125, false
	}
	code := runConfig(ev, port, cfg, string(cmdline))
	return code, cfg.Mode == vmevent.ModePort
}

func runConfig(ev *vmevent.Writer, port io.Reader, cfg vmevent.GuestConfig, cmdline string) int {
	var err error
	var early *suiteProc
	if cfg.Mode == vmevent.ModePort {
		if cfg.Binary != "" {
			// Start the guest test binary now, waiting for its arguments:
			// a VM resumed from the state saved below skips its start-up
			// (exec, runtime and package init: most of a second under TCG).
			if early, err = startSuite(cfg.Binary, nil); err != nil {
				ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: starting the guest suite early: " + err.Error()})
			}
		}
		// Booted and idle: the host may snapshot the VM from here on, and
		// every VM restored from it continues by reading its own config.
		ev.Write(vmevent.Event{Type: vmevent.Ready, Data: readyFacts()})
		line, err := bufio.NewReaderSize(port, 64<<10).ReadBytes('\n')
		if err != nil {
			ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: reading the config line from the port: " + err.Error()})
			return 125
		}
		if cfg, err = vmevent.ParseLine(line); err != nil {
			ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: " + err.Error()})
			return 125
		}
		if cfg.HostUnixNano > 0 {
			tv := unix.NsecToTimeval(cfg.HostUnixNano)
			if err := unix.Settimeofday(&tv); err != nil {
				ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: setting the clock: " + err.Error()})
			}
		}
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	possible, _ := os.ReadFile("/sys/devices/system/cpu/possible")
	h, _ := json.Marshal(hello{
		Release:  unix.ByteSliceToString(uts.Release[:]),
		NumCPU:   runtime.NumCPU(),
		Possible: strings.TrimSpace(string(possible)),
		Cmdline:  strings.TrimSpace(cmdline),
	})
	ev.Write(vmevent.Event{Type: vmevent.Hello, Data: h})
	if cfg.Mode == vmevent.ModeProbe {
		return 0
	}

	relayDone := startKmsgRelay(ev)
	if len(cfg.Coverage) > 0 {
		resetCoverage(ev)
	}
	code := runSuite(ev, cfg, early)
	if len(cfg.GoTests) > 0 && code != vmevent.GuestDeadlineCode && !featureAbsent.Load() {
		runGoTests(ev, cfg.GoTests, goTestTimeout(cfg))
	}
	if len(cfg.Coverage) > 0 {
		sendCoverage(ev, cfg.Coverage)
	}
	writeKmsg(endMarker)
	select {
	case <-relayDone:
	case <-time.After(5 * time.Second):
		ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: kmsg relay did not reach the end marker within 5s"})
	}
	return code
}

func runSuite(ev *vmevent.Writer, cfg vmevent.GuestConfig, early *suiteProc) int {
	if cfg.HungTaskSec > 0 {
		os.WriteFile("/proc/sys/kernel/hung_task_timeout_secs", []byte(strconv.Itoa(cfg.HungTaskSec)), 0)
	}
	timeout := time.Duration(cfg.TimeoutSec) * time.Second
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	// Ginkgo's own timeout first: it reports the spec it interrupts.
	ginkgoTimeout := max(timeout-5*time.Second, timeout/2)
	args := append([]string{
		"--ginkgo.json-report=" + reportPath,
		"--ginkgo.no-color",
		// Every spec's result reaches the host as events and in the JSON
		// report; the serial console gets failures only (each byte of it
		// costs emulated I/O).
		"--ginkgo.succinct",
		"--ginkgo.silence-skips",
		// A filter that selects nothing is a mistake, not a pass.
		"--ginkgo.fail-on-empty",
		"--ginkgo.timeout=" + ginkgoTimeout.String(),
		// A spec stuck in the kernel past its timeout does not return:
		// report it and go on after 10 s, not Ginkgo's default 30 s.
		"--ginkgo.grace-period=" + spectime.Grace.String(),
	}, cfg.Args...)
	ev.Write(vmevent.Event{Type: vmevent.Phase, Name: "suite-start"})
	proc := early
	if proc != nil && proc.binary == cfg.Binary {
		if err := proc.sendArgs(args); err != nil {
			ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: the early guest suite did not take its arguments (" + err.Error() + "); starting it again"})
			proc.kill()
			proc = nil
		}
	} else if proc != nil {
		proc.kill()
		proc = nil
	}
	if proc == nil {
		var err error
		if proc, err = startSuite(cfg.Binary, args); err != nil {
			ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: start guest suite: " + err.Error()})
			ev.Write(vmevent.Event{Type: vmevent.Exit, Code: 125, Message: err.Error()})
			return 125
		}
	}
	cmd := proc.cmd
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		relaySpecEvents(ev, proc.events)
	}()

	waited := make(chan error, 1)
	began := time.Now()
	go func() { waited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var werr error
	timedOut := false
	select {
	case werr = <-waited:
	case <-ctx.Done():
		timedOut = true
		// Record what every task is doing before ending the suite.
		os.WriteFile("/proc/sys/kernel/sysrq", []byte("1"), 0)
		os.WriteFile("/proc/sysrq-trigger", []byte("w"), 0)
		os.WriteFile("/proc/sysrq-trigger", []byte("t"), 0)
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		select {
		case werr = <-waited:
		case <-time.After(10 * time.Second):
			werr = errors.New("guest suite did not die after SIGKILL (stuck in the kernel)")
		}
	}
	select {
	case <-relayed:
	case <-time.After(2 * time.Second):
	}

	if b, err := os.ReadFile(reportPath); err == nil && json.Valid(b) {
		ev.Write(vmevent.Event{Type: vmevent.Report, Data: b})
	} else {
		ev.Write(vmevent.Event{Type: vmevent.Log, Text: fmt.Sprintf("zcinit: no guest report: %v", err)})
	}
	code := 0
	msg := ""
	if werr != nil {
		code = 125
		msg = werr.Error()
		var ee *exec.ExitError
		if errors.As(werr, &ee) && ee.Exited() {
			code = ee.ExitCode()
		}
	}
	if !timedOut && werr != nil && time.Since(began) >= ginkgoTimeout {
		// Ginkgo stopped the suite at its own timeout: the same deadline.
		timedOut = true
		msg = "Ginkgo's suite timeout: " + msg
	}
	if timedOut {
		msg = fmt.Sprintf("guest suite timed out after %s (task dump in kmsg): %s", timeout, msg)
		code = vmevent.GuestDeadlineCode
	}
	ev.Write(vmevent.Event{Type: vmevent.Exit, Code: code, Message: msg})
	return code
}

// relaySpecEvents forwards the guest suite's events (JSON lines on fd 3).
// featureAbsent records that the suite found the kernel without
// FUSE-over-io_uring: such a kernel cannot be tested, so nothing more
// runs on it (zcserver's own tests would wait on a ring that never comes).
var featureAbsent atomic.Bool

func relaySpecEvents(ev *vmevent.Writer, r io.Reader) {
	rd := vmevent.NewReader(r)
	for {
		e, err := rd.Next()
		if err != nil {
			var de *vmevent.DecodeError
			if errors.As(err, &de) {
				ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: bad event from the suite: " + err.Error()})
				continue
			}
			return
		}
		if e.Type == vmevent.Done {
			continue // only the init ends the stream
		}
		if e.Type == vmevent.FeatureAbsent {
			featureAbsent.Store(true)
		}
		ev.Write(e)
	}
}

func writeKmsg(s string) {
	if f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
		f.WriteString(s + "\n")
		f.Close()
	}
}

// readyFacts tells the host how long the kernel took to reach this point
// (CLOCK_BOOTTIME since the kernel started), so that it can tell QEMU's
// and the firmware's share of a boot from the kernel's.
func readyFacts() json.RawMessage {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	b, _ := json.Marshal(vmevent.ReadyFacts{UptimeNs: ts.Nano()})
	return b
}

// suiteProc is the running guest test binary.
type suiteProc struct {
	binary string
	cmd    *exec.Cmd
	// events is the read end of the spec events pipe (its fd 3).
	events *os.File
	// args is the write end of the pipe its arguments come through (its
	// fd 4) when it was started before they were known.
	args *os.File
}

// startSuite starts the guest test binary with args, or, for nil args,
// waiting for them on a pipe (see vmevent.ArgsFDEnv).
func startSuite(binary string, args []string) (*suiteProc, error) {
	evR, evW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer evW.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{evW}
	cmd.Dir = "/tmp"
	cmd.Env = append(os.Environ(), "ZCSUITE_EVENT_FD=3", "HOME=/tmp", "TMPDIR=/tmp", "PATH=/zcsuite:/bin:/sbin",
		// Under TCG a garbage collection costs tens of times what it does
		// natively: collect only when the heap nears a limit the 1 GiB
		// guest can afford.
		"GOGC=off", "GOMEMLIMIT=320MiB",
		// Preemption signals every 10 ms cost an emulated signal delivery
		// with the whole vector state each; the specs need no preemption.
		"GODEBUG=asyncpreemptoff=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &suiteProc{binary: binary, cmd: cmd, events: evR}
	var argsR *os.File
	if args == nil {
		if argsR, p.args, err = os.Pipe(); err != nil {
			evR.Close()
			return nil, err
		}
		defer argsR.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, argsR)
		cmd.Env = append(cmd.Env, vmevent.ArgsFDEnv+"=4")
	}
	if err := cmd.Start(); err != nil {
		evR.Close()
		if p.args != nil {
			p.args.Close()
		}
		return nil, err
	}
	return p, nil
}

// sendArgs hands an early-started binary its arguments.
func (p *suiteProc) sendArgs(args []string) error {
	b, err := json.Marshal(args)
	if err != nil {
		return err
	}
	_, err = p.args.Write(append(b, '\n'))
	if cerr := p.args.Close(); err == nil {
		err = cerr
	}
	return err
}

func (p *suiteProc) kill() {
	unix.Kill(-p.cmd.Process.Pid, unix.SIGKILL)
	p.cmd.Wait()
	p.events.Close()
	if p.args != nil {
		p.args.Close()
	}
}

// startKmsgRelay forwards every kmsg record, from the first boot line on,
// until it sees endMarker; the returned channel closes then.
func startKmsgRelay(ev *vmevent.Writer) <-chan struct{} {
	done := make(chan struct{})
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: open /dev/kmsg: " + err.Error()})
		close(done)
		return done
	}
	go func() {
		defer close(done)
		defer unix.Close(fd)
		buf := make([]byte, 16<<10)
		for {
			n, err := unix.Read(fd, buf)
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EPIPE) {
				// EPIPE: records were overwritten before we read them.
				if errors.Is(err, unix.EPIPE) {
					ev.Write(vmevent.Event{Type: vmevent.Log, Text: "zcinit: kmsg records were lost (EPIPE)"})
				}
				continue
			}
			if err != nil || n <= 0 {
				ev.Write(vmevent.Event{Type: vmevent.Log, Text: fmt.Sprintf("zcinit: kmsg read: %v", err)})
				return
			}
			e, ok := parseKmsg(string(buf[:n]))
			if !ok {
				continue
			}
			ev.Write(e)
			if e.Text == endMarker {
				return
			}
		}
	}()
	return done
}

// parseKmsg decodes one /dev/kmsg record: "prio,seq,usec,flags;text" with
// optional dictionary lines (starting with a space) after it.
func parseKmsg(rec string) (vmevent.Event, bool) {
	head, text, ok := strings.Cut(rec, ";")
	if !ok {
		return vmevent.Event{}, false
	}
	text, _, _ = strings.Cut(text, "\n")
	f := strings.Split(head, ",")
	if len(f) < 3 {
		return vmevent.Event{}, false
	}
	prio, _ := strconv.Atoi(f[0])
	seq, _ := strconv.ParseUint(f[1], 10, 64)
	usec, _ := strconv.ParseUint(f[2], 10, 64)
	return vmevent.Event{Type: vmevent.Kmsg, KmsgSeq: seq, KmsgLevel: prio & 7, KmsgUsec: usec, Text: unescapeKmsg(text)}, true
}

// unescapeKmsg undoes the \xNN escaping /dev/kmsg applies to non-printable
// bytes.
func unescapeKmsg(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
