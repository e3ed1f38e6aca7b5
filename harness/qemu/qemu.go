package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// Accelerators.
const (
	AccelKVM = "kvm"
	AccelTCG = "tcg"
)

// Config is what one boot needs. Build it with options.
type Config struct {
	Binary    string
	Kernel    string
	Initramfs string
	Append    []string
	SMP       int
	MemoryMB  int
	Accel     string
	Timeout   time.Duration
	ExtraArgs []string
	// OnConsole receives every console line (without the newline).
	OnConsole func(line string)
	// OnEvent receives every decoded guest event.
	OnEvent func(vmevent.Event)
	// Console, when set, receives the raw console bytes.
	Console io.Writer
	// OnStderr receives every line QEMU itself prints.
	OnStderr func(line string)
	// QMP opens a QMP socket (needed by VM.SaveState).
	QMP bool
	// Incoming is an open state file written by VM.SaveState: the VM
	// resumes from it instead of booting. QEMU reads the open file (its
	// descriptor 3), so removing or replacing the path meanwhile does not
	// matter.
	Incoming *os.File
}

// Option configures a boot; options apply in order.
type Option func(*Config) error

// WithKernel sets the kernel image.
func WithKernel(path string) Option {
	return func(c *Config) error { c.Kernel = path; return nil }
}

// WithInitramfs sets the initramfs.
func WithInitramfs(path string) Option {
	return func(c *Config) error { c.Initramfs = path; return nil }
}

// WithAppend adds kernel command-line words.
func WithAppend(words ...string) Option {
	return func(c *Config) error { c.Append = append(c.Append, words...); return nil }
}

// WithCmdline replaces the kernel command line.
func WithCmdline(words ...string) Option {
	return func(c *Config) error { c.Append = append([]string(nil), words...); return nil }
}

// WithSMP sets the number of vCPUs (and so FUSE's possible CPUs).
func WithSMP(n int) Option {
	return func(c *Config) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("qemu: %d vCPUs is out of range 1..64", n)
		}
		c.SMP = n
		return nil
	}
}

// WithMemory sets the guest memory in MiB.
func WithMemory(mb int) Option {
	return func(c *Config) error {
		if mb < 128 {
			return fmt.Errorf("qemu: %d MiB is too little memory", mb)
		}
		c.MemoryMB = mb
		return nil
	}
}

// WithAccel selects AccelKVM or AccelTCG.
func WithAccel(a string) Option {
	return func(c *Config) error {
		if a != AccelKVM && a != AccelTCG {
			return fmt.Errorf("qemu: unknown accelerator %q", a)
		}
		c.Accel = a
		return nil
	}
}

// WithTimeout bounds the whole boot; QEMU is killed at the deadline.
func WithTimeout(d time.Duration) Option {
	return func(c *Config) error { c.Timeout = d; return nil }
}

// WithConsoleLine registers a per-line console callback.
func WithConsoleLine(f func(string)) Option {
	return func(c *Config) error { c.OnConsole = f; return nil }
}

// WithConsoleWriter copies the raw console to w.
func WithConsoleWriter(w io.Writer) Option {
	return func(c *Config) error { c.Console = w; return nil }
}

// WithEvents registers the guest event callback.
func WithEvents(f func(vmevent.Event)) Option {
	return func(c *Config) error { c.OnEvent = f; return nil }
}

// WithStderrLine registers a callback for QEMU's own stderr lines.
func WithStderrLine(f func(string)) Option {
	return func(c *Config) error { c.OnStderr = f; return nil }
}

// WithExtraArgs appends raw QEMU arguments.
func WithExtraArgs(a ...string) Option {
	return func(c *Config) error { c.ExtraArgs = append(c.ExtraArgs, a...); return nil }
}

// WithQMP opens a QMP socket so that VM.SaveState can be used.
func WithQMP() Option { return func(c *Config) error { c.QMP = true; return nil } }

// WithIncoming resumes the VM from a state file VM.SaveState wrote, with
// the same configuration (kernel, initramfs, command line, CPUs, memory,
// accelerator, devices), instead of booting it. Start returns once the
// guest runs again. The caller opened f and closes it after Start.
func WithIncoming(f *os.File) Option {
	return func(c *Config) error {
		if f == nil {
			return errors.New("qemu: incoming state: no file")
		}
		c.Incoming, c.QMP = f, true
		return nil
	}
}

// ErrNoQEMU means the QEMU binary is missing.
var ErrNoQEMU = errors.New("qemu: qemu-system-x86_64 not found")

func newConfig(opts []Option) (*Config, error) {
	c := &Config{Binary: os.Getenv("ZCSUITE_QEMU"), SMP: 2, MemoryMB: 1024, Accel: AccelTCG, Timeout: 5 * time.Minute}
	if c.Binary == "" {
		c.Binary = "qemu-system-x86_64"
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.Kernel == "" || c.Initramfs == "" {
		return nil, errors.New("qemu: a kernel and an initramfs are required")
	}
	if _, err := exec.LookPath(c.Binary); err != nil {
		return nil, fmt.Errorf("%w (%s): install qemu-system-x86", ErrNoQEMU, c.Binary)
	}
	return c, nil
}

// Args returns QEMU's argument vector (without the binary) for an event
// socket at sock (and, with QMP, a QMP socket at qmp).
func (c *Config) Args(sock, qmp string) []string {
	return c.args("socket,id=zcev,path="+sock, qmp)
}

func (c *Config) args(chardev, qmp string) []string {
	accel := c.Accel
	if accel == AccelTCG {
		// One host thread for all vCPUs: measured faster on the 2-core
		// hosts, and it avoids the cross-modifying-code races of
		// multi-threaded TCG that crashed early boots (int3 oopses while
		// the kernel patches its text; fixtures/console/deb73-boot-*).
		accel += ",thread=single"
	}
	args := []string{
		"-accel", accel, "-cpu", "max",
		"-smp", fmt.Sprint(c.SMP), "-m", fmt.Sprint(c.MemoryMB),
		"-nodefaults", "-no-reboot", "-nographic", "-monitor", "none",
		"-serial", "stdio",
		"-kernel", c.Kernel, "-initrd", c.Initramfs,
		"-append", strings.Join(c.Append, " "),
		"-chardev", chardev,
		"-device", "virtio-serial-pci",
		"-device", "virtserialport,chardev=zcev,name=" + vmevent.PortName,
	}
	if c.QMP {
		args = append(args, "-qmp", "unix:"+qmp+",server=on,wait=off")
	}
	if c.Incoming != nil {
		// A file descriptor, not "exec:cat PATH": a stream that ends
		// before its first byte (a missing or empty file) leaves QEMU
		// waiting for it forever, while an fd at EOF fails at once.
		args = append(args, "-incoming", "fd:3")
	}
	return append(args, c.ExtraArgs...)
}

// Result is how a VM ended.
type Result struct {
	// ExitCode is QEMU's exit status (-1 when killed).
	ExitCode int
	// TimedOut is true when the deadline killed QEMU.
	TimedOut bool
	// SawDone is true when the guest's stream ended with a done event.
	SawDone bool
	// GuestCode is the code of the done event.
	GuestCode int
	// EventErr is the event stream's error (vmevent.ErrNoDone when the
	// guest died mid-stream).
	EventErr error
	// Duration is wall time from start to exit.
	Duration time.Duration
	// Repro is the shell-quoted command line.
	Repro string
	// ConsoleTail holds the last console lines.
	ConsoleTail []string
	// Stderr is what QEMU itself printed.
	Stderr string
}

// VM is a running QEMU.
type VM struct {
	cfg     *Config
	cmd     *exec.Cmd
	dir     string
	ln      net.Listener
	start   time.Time
	tasks   sync.WaitGroup
	mu      sync.Mutex
	res     Result
	tail    []string
	stderr  strings.Builder
	waited  bool
	exited  chan struct{}
	exitErr error
	// conn is the event connection once QEMU has connected it.
	conn      net.Conn
	connReady chan struct{}
	qmpPath   string
	qmpOnce   sync.Once
	qmpc      *qmpConn
	qmpErr    error
}

const tailLines = 80

// Start boots a VM. The caller must call Wait.
func Start(ctx context.Context, opts ...Option) (*VM, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "zcsuite-vm-")
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	sock := filepath.Join(dir, "events.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("qemu: event socket: %w", err)
	}
	qmpPath := ""
	if cfg.QMP {
		qmpPath = filepath.Join(dir, "qmp.sock")
	}
	args := cfg.Args(sock, qmpPath)
	cmd := exec.Command(cfg.Binary, args...)
	cmd.Stdin = nil
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		ln.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("qemu: %w", err)
	}
	vm := &VM{cfg: cfg, cmd: cmd, dir: dir, ln: ln, exited: make(chan struct{}), connReady: make(chan struct{}), qmpPath: qmpPath}
	cmd.Stderr = &lockedWriter{mu: &vm.mu, w: &vm.stderr, onLine: cfg.OnStderr}
	// QEMU gets its own process group, so that a terminal's Ctrl-C (sent
	// to the whole foreground group) reaches only zcsuite, which then
	// stops every VM itself and reports why; and it dies with zcsuite if
	// zcsuite is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if cfg.Incoming != nil {
		cmd.ExtraFiles = []*os.File{cfg.Incoming} // descriptor 3
	}
	vm.res.Repro = shellQuote(append([]string{cfg.Binary}, args...))
	vm.start = time.Now()
	if err := cmd.Start(); err != nil {
		ln.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("qemu: start %s: %w", cfg.Binary, err)
	}
	vm.tasks.Add(2)
	go vm.readConsole(stdout)
	go vm.readEvents()
	go func() {
		vm.exitErr = cmd.Wait()
		close(vm.exited)
	}()
	go vm.deadline(ctx)
	if cfg.Incoming != nil {
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := vm.resumeIncoming(rctx)
		cancel()
		if err != nil {
			vm.kill()
			res := vm.Wait()
			if res.Stderr != "" {
				err = fmt.Errorf("%w (qemu: %s)", err, firstLine(res.Stderr))
			}
			return nil, err
		}
	}
	return vm, nil
}

// ReproCommand is a shell command that boots the configured VM on its own:
// the guest's events go to the file events.jsonl in the current directory
// instead of a socket, so nothing needs to listen. It ignores WithIncoming
// and WithQMP (a repro boots).
func ReproCommand(opts ...Option) (string, error) {
	c, err := newConfig(opts)
	if err != nil {
		return "", err
	}
	c.Incoming, c.QMP = nil, false
	return shellQuote(append([]string{c.Binary}, c.args("file,id=zcev,path=events.jsonl", "")...)), nil
}

// MachineArgs is the argument vector of the configured VM with the
// kernel and initramfs paths and the socket paths left out: what a saved
// VM state depends on besides the files' contents.
func MachineArgs(opts ...Option) ([]string, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	c.Incoming, c.QMP = nil, false
	c.Kernel, c.Initramfs = "KERNEL", "INITRAMFS"
	return c.args("socket,id=zcev,path=SOCKET", ""), nil
}

// Send writes b to the guest over the event port.
func (vm *VM) Send(b []byte) error {
	select {
	case <-vm.connReady:
	case <-vm.exited:
		return errors.New("qemu: QEMU exited before the event port was connected")
	case <-time.After(time.Minute):
		return errors.New("qemu: the event port was not connected within a minute")
	}
	vm.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := vm.conn.Write(b); err != nil {
		return fmt.Errorf("qemu: sending to the guest: %w", err)
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func (vm *VM) deadline(ctx context.Context) {
	t := time.NewTimer(vm.cfg.Timeout)
	defer t.Stop()
	select {
	case <-vm.exited:
		return
	case <-t.C:
	case <-ctx.Done():
	}
	vm.mu.Lock()
	vm.res.TimedOut = true
	vm.mu.Unlock()
	vm.kill()
}

func (vm *VM) readConsole(r io.Reader) {
	defer vm.tasks.Done()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			if vm.cfg.Console != nil {
				vm.cfg.Console.Write([]byte(line))
			}
			l := strings.TrimRight(line, "\r\n")
			vm.mu.Lock()
			vm.tail = append(vm.tail, l)
			if len(vm.tail) > tailLines {
				vm.tail = vm.tail[len(vm.tail)-tailLines:]
			}
			vm.mu.Unlock()
			if vm.cfg.OnConsole != nil {
				vm.cfg.OnConsole(l)
			}
		}
		if err != nil {
			return
		}
	}
}

func (vm *VM) readEvents() {
	defer vm.tasks.Done()
	connc := make(chan net.Conn, 1)
	go func() {
		c, err := vm.ln.Accept()
		if err != nil {
			close(connc)
			return
		}
		connc <- c
	}()
	var conn net.Conn
	select {
	case c, ok := <-connc:
		if !ok {
			vm.setEventErr(errors.New("qemu: QEMU never connected the event socket"))
			return
		}
		conn = c
	case <-vm.exited:
		vm.ln.Close()
		vm.setEventErr(errors.New("qemu: QEMU exited before connecting the event socket"))
		return
	}
	defer conn.Close()
	vm.conn = conn
	close(vm.connReady)
	// Once QEMU is gone the socket ends in EOF after the last event it
	// carried: read to there, however long a loaded host takes to get
	// through what is buffered. Only a socket that stays silent for
	// drainIdle after QEMU's exit is given up.
	go func() {
		// A read blocked when QEMU exits gets the drain deadline too.
		<-vm.exited
		conn.SetReadDeadline(time.Now().Add(drainIdle))
	}()
	rd := vmevent.NewReader(drainReader{conn: conn, exited: vm.exited})
	for {
		e, err := rd.Next()
		if err != nil {
			var de *vmevent.DecodeError
			if errors.As(err, &de) {
				continue
			}
			if errors.Is(err, io.EOF) {
				return
			}
			vm.setEventErr(err)
			return
		}
		if e.Type == vmevent.Done {
			vm.mu.Lock()
			vm.res.SawDone, vm.res.GuestCode = true, e.Code
			vm.mu.Unlock()
			// The whole stream is read: the guest may power off.
			go func() {
				conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
				conn.Write([]byte(vmevent.DoneAck))
			}()
		}
		if vm.cfg.OnEvent != nil {
			vm.cfg.OnEvent(e)
		}
	}
}

// drainIdle is how long the event socket may stay silent after QEMU has
// exited before the reader gives up on its EOF.
const drainIdle = 30 * time.Second

// drainReader reads the event socket. While QEMU runs a read blocks as
// long as it must; after QEMU's exit each read is given drainIdle from its
// own start, so a deadline set at the exit can never expire on data that
// is already buffered while a loaded host is slow to get to it.
type drainReader struct {
	conn   net.Conn
	exited <-chan struct{}
}

func (d drainReader) Read(p []byte) (int, error) {
	select {
	case <-d.exited:
		d.conn.SetReadDeadline(time.Now().Add(drainIdle))
	default:
	}
	return d.conn.Read(p)
}

func (vm *VM) setEventErr(err error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.res.EventErr == nil && !vm.res.SawDone {
		vm.res.EventErr = err
	}
}

// Wait waits for QEMU to exit and every VM task to finish.
func (vm *VM) Wait() *Result {
	<-vm.exited
	vm.tasks.Wait()
	vm.ln.Close()
	if vm.qmpc != nil {
		vm.qmpc.close()
	}
	os.RemoveAll(vm.dir)
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.waited = true
	vm.res.Duration = time.Since(vm.start)
	vm.res.ExitCode = -1
	if vm.cmd.ProcessState != nil {
		vm.res.ExitCode = vm.cmd.ProcessState.ExitCode()
	}
	vm.res.ConsoleTail = append([]string(nil), vm.tail...)
	vm.res.Stderr = strings.TrimSpace(vm.stderr.String())
	r := vm.res
	return &r
}

type lockedWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	onLine func(string)
	part   string
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	n, err := l.w.Write(p)
	var lines []string
	if l.onLine != nil {
		l.part += string(p)
		for {
			i := strings.IndexByte(l.part, '\n')
			if i < 0 {
				break
			}
			lines = append(lines, l.part[:i])
			l.part = l.part[i+1:]
		}
	}
	l.mu.Unlock()
	for _, s := range lines {
		l.onLine(s)
	}
	return n, err
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=,:+@%", r))
		}) < 0 {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

var versionOnce struct {
	sync.Once
	v   string
	err error
}

// Version returns the first line of `qemu-system-x86_64 --version` (of
// $ZCSUITE_QEMU when set): a saved VM state only loads into the same QEMU.
func Version() (string, error) {
	versionOnce.Do(func() {
		bin := os.Getenv("ZCSUITE_QEMU")
		if bin == "" {
			bin = "qemu-system-x86_64"
		}
		out, err := exec.Command(bin, "--version").Output()
		if err != nil {
			versionOnce.err = fmt.Errorf("%w (%s): %v", ErrNoQEMU, bin, err)
			return
		}
		versionOnce.v = firstLine(string(out))
	})
	return versionOnce.v, versionOnce.err
}

// Exited is closed when QEMU has exited.
func (vm *VM) Exited() <-chan struct{} { return vm.exited }

// kill stops QEMU and whatever it started (its process group: an
// -incoming helper, for one).
func (vm *VM) kill() {
	if err := syscall.Kill(-vm.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		vm.cmd.Process.Kill()
	}
}
