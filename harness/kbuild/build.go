package kbuild

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zcsuite/zcsuite/harness/cachelock"

	"github.com/zcsuite/zcsuite/harness/kernel"
)

// Arch is the only architecture zcsuite boots.
const Arch = "x86_64"

// Fragment file names inside the fragment directory.
const (
	MinFragment   = "min.config"
	DebugFragment = "debug.config"
	GcovFragment  = "gcov.config"
)

// stampVersion changes when the way a build directory is configured
// changes, so old build directories get reconfigured.
const stampVersion = "zcsuite-kbuild-2"

type config struct {
	cacheDir string
	fragDir  string
	debug    bool
	gcov     bool
	jobs     int
	ccache   bool
	logf     func(string, ...any)
	progress time.Duration
}

// Option configures Build.
type Option func(*config) error

// WithCacheDir sets the cache directory; build directories go under
// its kbuild/ subdirectory. Required.
func WithCacheDir(d string) Option {
	return func(c *config) error {
		if d == "" {
			return errors.New("kbuild: empty cache directory")
		}
		c.cacheDir = d
		return nil
	}
}

// WithFragmentDir names the directory holding min.config and debug.config
// (default: ./kernelconfig).
func WithFragmentDir(d string) Option { return func(c *config) error { c.fragDir = d; return nil } }

// WithDebug adds debug.config (KASAN, KFENCE, lockdep, UBSAN...) to the
// configuration; debug kernels get their own build directory.
func WithDebug(on bool) Option { return func(c *config) error { c.debug = on; return nil } }

// WithGcov adds gcov.config (gcov profiling of the whole kernel, counters
// in debugfs); gcov kernels get their own build directory (variant + "-gcov"),
// so a build without it is never touched.
func WithGcov(on bool) Option { return func(c *config) error { c.gcov = on; return nil } }

// WithJobs sets make's -j (default: every CPU).
func WithJobs(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("kbuild: %d jobs", n)
		}
		c.jobs = n
		return nil
	}
}

// WithCCache compiles through ccache (CC="ccache gcc"), with its cache in
// the cache directory's ccache/ unless $CCACHE_DIR is set. Switching it on
// or off rebuilds the tree once: kbuild records each object's command line.
func WithCCache(on bool) Option { return func(c *config) error { c.ccache = on; return nil } }

// WithLogf sends progress lines to f.
func WithLogf(f func(string, ...any)) Option { return func(c *config) error { c.logf = f; return nil } }

// WithProgress sets how often a running make reports its progress (default
// 30 s; 0 turns it off).
func WithProgress(d time.Duration) Option {
	return func(c *config) error { c.progress = d; return nil }
}

// Result is a build's kernel plus how the build went.
type Result struct {
	Kernel *kernel.Kernel
	// BuildDir is the out-of-tree build directory.
	BuildDir string
	// Configured is true when this build (re)configured the tree.
	Configured bool
	// ConfigTime and MakeTime are the durations of the two steps.
	ConfigTime, MakeTime time.Duration
}

// Build configures and builds tree and returns the bzImage as a kernel
// (Source "tree", ConfigPath the build's .config).
func Build(ctx context.Context, tree string, opts ...Option) (*kernel.Kernel, error) {
	r, err := BuildResult(ctx, tree, opts...)
	if err != nil {
		return nil, err
	}
	return r.Kernel, nil
}

// BuildResult is Build with the build's details.
func BuildResult(ctx context.Context, tree string, opts ...Option) (*Result, error) {
	c := config{fragDir: "kernelconfig", jobs: runtime.NumCPU(), logf: func(string, ...any) {}, progress: 30 * time.Second}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.cacheDir == "" {
		return nil, errors.New("kbuild: no cache directory")
	}
	tree, err := CheckTree(tree)
	if err != nil {
		return nil, err
	}
	if err := checkTools(c.ccache); err != nil {
		return nil, err
	}
	frags := []string{filepath.Join(c.fragDir, MinFragment)}
	if v := treeRelease(tree); v != "" {
		// What one release needs beyond min.config (an option another
		// release does not have).
		if f := filepath.Join(c.fragDir, "min-"+v+".config"); regular(f) {
			frags = append(frags, f)
		}
	}
	variant := "min"
	if c.debug {
		frags = append(frags, filepath.Join(c.fragDir, DebugFragment))
		variant = "debug"
	}
	if c.gcov {
		frags = append(frags, filepath.Join(c.fragDir, GcovFragment))
		variant += "-gcov"
	}
	for i, f := range frags {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("%w: config fragment %v", ErrConfig, err)
		}
		frags[i] = abs
	}
	b := &builder{c: c, tree: tree, frags: frags, dir: Dir(c.cacheDir, tree, variant)}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, err
	}
	os.WriteFile(filepath.Join(b.dir, ".zcsuite-tree"), []byte(tree+"\n"), 0o644)
	unlock, err := cachelock.Lock(ctx, filepath.Join(b.dir, ".zcsuite-lock"), c.logf)
	if err != nil {
		return nil, fmt.Errorf("kbuild: %w", err)
	}
	defer unlock()

	res := &Result{BuildDir: b.dir}
	t0 := time.Now()
	want, err := b.stamp()
	if err != nil {
		return nil, err
	}
	if err := b.checkTreeID(want); err != nil {
		return nil, err
	}
	if b.needConfig(want) {
		if err := b.configure(ctx); err != nil {
			return nil, err
		}
		res.Configured = true
	}
	err = b.verify()
	if err != nil && !res.Configured {
		// A .config this directory kept from an earlier run, now damaged
		// or edited: configure afresh before blaming the tree.
		c.logf("the build directory's .config is not what the fragments make (%v); configuring again", err)
		if err = b.configure(ctx); err == nil {
			res.Configured = true
			err = b.verify()
		}
	}
	if err != nil {
		os.Remove(b.stampPath()) // configure again next time
		return nil, err
	}
	if res.Configured {
		want.Kconfig = b.kconfigHash()
		b.writeStamp(want)
	}
	res.ConfigTime = time.Since(t0)

	t0 = time.Now()
	c.logf("building bzImage of %s in %s (make -j%d%s)", tree, b.dir, c.jobs, map[bool]string{true: ", ccache"}[c.ccache])
	if err := b.make(ctx, "bzImage", "build.log"); err != nil {
		return nil, err
	}
	res.MakeTime = time.Since(t0)
	c.logf("built %s in %.1fs (configure %.1fs)", filepath.Join(b.dir, "arch/x86/boot/bzImage"), res.MakeTime.Seconds(), res.ConfigTime.Seconds())

	bz := filepath.Join(b.dir, "arch/x86/boot/bzImage")
	k, err := kernel.FromPath(bz)
	if err != nil {
		// make found the bzImage up to date, but it is damaged: make it again.
		c.logf("%s is not a usable kernel (%v); making it again", bz, err)
		os.Remove(bz)
		if err := b.make(ctx, "bzImage", "build.log"); err != nil {
			return nil, err
		}
		if k, err = kernel.FromPath(bz); err != nil {
			return nil, fmt.Errorf("%w: the build produced no usable bzImage: %v", ErrBuild, err)
		}
	}
	k.Spec, k.Source, k.Tree = tree, "tree", tree
	k.ConfigPath, k.ConfigSource = filepath.Join(b.dir, ".config"), "tree"
	for _, f := range frags {
		k.Fragments = append(k.Fragments, filepath.Base(f))
	}
	k.Commit, k.Subject, k.Dirty = GitHead(ctx, tree)
	if m := filepath.Join(b.dir, "System.map"); regular(m) {
		k.SystemMap = m
	}
	res.Kernel = k
	return res, nil
}

// CheckTree returns the absolute, symlink-free path of a kernel source tree
// with FUSE over io_uring in it, or ErrTree.
func CheckTree(tree string) (string, error) {
	abs, err := filepath.Abs(tree)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrTree, tree, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	for _, f := range []string{"Makefile", "Kconfig", "scripts/kconfig/merge_config.sh", "arch/x86/Kconfig"} {
		if _, err := os.Stat(filepath.Join(abs, f)); err != nil {
			return "", fmt.Errorf("%w: %s has no %s (want the top directory of a Linux source tree)", ErrTree, abs, f)
		}
	}
	if _, err := os.Stat(filepath.Join(abs, "fs/fuse/dev_uring.c")); err != nil {
		return "", fmt.Errorf("%w: %s has no fs/fuse/dev_uring.c (FUSE over io_uring arrived in Linux 6.14)", ErrTree, abs)
	}
	if _, err := os.Stat(filepath.Join(abs, ".config")); err == nil {
		// Kbuild refuses O= builds of a tree configured in place.
		return "", fmt.Errorf("%w: %s has an in-tree .config; run `make mrproper` there first (zcsuite builds out of tree)", ErrTree, abs)
	}
	return abs, nil
}

// Dir is the build directory of tree for a fragment set ("min", "debug",
// "min-gcov", "debug-gcov").
func Dir(cacheDir, tree, variant string) string {
	h := sha256.Sum256([]byte(tree))
	return filepath.Join(cacheDir, "kbuild", hex.EncodeToString(h[:8])+"-"+variant)
}

func checkTools(ccache bool) error {
	// lz4: min.config's KERNEL_LZ4 compresses the bzImage with it.
	tools := []string{"make", "gcc", "flex", "bison", "bc", "perl", "awk", "lz4"}
	if ccache {
		tools = append(tools, "ccache")
	}
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not installed (Debian: apt-get install %s)", ErrTools, strings.Join(missing, ", "), strings.Join(kernel.BuildDeps, " "))
	}
	return nil
}

type builder struct {
	c     config
	tree  string
	frags []string
	dir   string
}

// stamp records what a configuration was made from.
type stamp struct {
	Version   string `json:"version"`
	Fragments string `json:"fragments_sha256"`
	CC        string `json:"cc"`
	// TreeID is the tree directory's device and inode: a tree deleted and
	// unpacked or copied again may bring files older than the objects
	// built from their previous contents, which make would not rebuild.
	TreeID string `json:"tree_id"`
	// Kconfig is the sha256 of the tree's Kconfig files the configuration
	// read (listed in include/config/auto.conf.cmd).
	Kconfig string `json:"kconfig_sha256"`
}

func (b *builder) stampPath() string { return filepath.Join(b.dir, ".zcsuite-config") }

func (b *builder) cc() string {
	if b.c.ccache {
		return "ccache gcc"
	}
	return "gcc"
}

// stamp is the wanted stamp without its Kconfig hash.
func (b *builder) stamp() (stamp, error) {
	h := sha256.New()
	for _, f := range b.frags {
		data, err := os.ReadFile(f)
		if err != nil {
			return stamp{}, fmt.Errorf("%w: %v", ErrConfig, err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(data))
		h.Write(data)
	}
	return stamp{Version: stampVersion, Fragments: hex.EncodeToString(h.Sum(nil)), CC: b.cc(), TreeID: treeID(b.tree)}, nil
}

func treeID(tree string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(tree, &st); err != nil {
		return ""
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func (b *builder) readStamp() (stamp, bool) {
	data, err := os.ReadFile(b.stampPath())
	if err != nil {
		return stamp{}, false
	}
	var s stamp
	if json.Unmarshal(data, &s) != nil {
		return stamp{}, false
	}
	return s, true
}

// checkTreeID empties the build directory when the tree at this path is
// not the one it was built from.
func (b *builder) checkTreeID(want stamp) error {
	old, ok := b.readStamp()
	if !ok || old.TreeID == "" || old.TreeID == want.TreeID {
		return nil
	}
	b.c.logf("%s was recreated since the last build: starting from a clean build directory", b.tree)
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == ".zcsuite-lock" || e.Name() == ".zcsuite-tree" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(b.dir, e.Name())); err != nil {
			return fmt.Errorf("kbuild: emptying %s: %w", b.dir, err)
		}
	}
	return nil
}

func (b *builder) needConfig(want stamp) bool {
	if _, err := os.Stat(filepath.Join(b.dir, ".config")); err != nil {
		return true
	}
	old, ok := b.readStamp()
	if !ok {
		return true
	}
	if old.Version != want.Version || old.Fragments != want.Fragments || old.CC != want.CC {
		b.c.logf("the config fragments or the compiler changed: reconfiguring")
		return true
	}
	if h := b.kconfigHash(); h == "" || h != old.Kconfig {
		b.c.logf("the tree's Kconfig files changed: reconfiguring")
		return true
	}
	return false
}

func (b *builder) writeStamp(s stamp) {
	data, _ := json.MarshalIndent(s, "", "  ")
	os.WriteFile(b.stampPath(), append(data, '\n'), 0o644)
}

// kconfigHash hashes the Kconfig files the last configuration read, as
// listed in the build directory's include/config/auto.conf.cmd ("" when
// there is no such list).
func (b *builder) kconfigHash() string {
	files := kconfigInputs(filepath.Join(b.dir, "include/config/auto.conf.cmd"))
	if len(files) == 0 {
		return ""
	}
	h := sha256.New()
	for _, f := range files {
		p := f
		if !filepath.IsAbs(p) {
			p = filepath.Join(b.tree, f)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(h, "%s missing\n", f)
			continue
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// kconfigInputs reads the deps_config list of an auto.conf.cmd.
func kconfigInputs(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var files []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "deps_config :=") {
			in = true
			continue
		}
		if !in {
			continue
		}
		name := strings.TrimSpace(strings.TrimSuffix(line, "\\"))
		if name != "" {
			files = append(files, name)
		}
		if !strings.HasSuffix(line, "\\") {
			break
		}
	}
	return files
}

// configure writes a fresh .config: tinyconfig, then the fragments merged
// onto it with allnoconfig semantics, then syncconfig so the Kconfig inputs
// are listed.
func (b *builder) configure(ctx context.Context) error {
	b.c.logf("configuring %s: tinyconfig + %s", b.dir, strings.Join(baseNames(b.frags), " + "))
	os.Remove(filepath.Join(b.dir, ".config"))
	if err := b.make(ctx, "tinyconfig", "config.log"); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	args := append([]string{"-n", "-O", b.dir, filepath.Join(b.dir, ".config")}, b.frags...)
	cmd := exec.CommandContext(ctx, filepath.Join(b.tree, "scripts/kconfig/merge_config.sh"), args...)
	cmd.Dir = b.tree
	cmd.Env = append(os.Environ(), "ARCH="+Arch)
	out, err := cmd.CombinedOutput()
	logPath := filepath.Join(b.dir, "merge_config.log")
	os.WriteFile(logPath, out, 0o644)
	if err != nil {
		return fmt.Errorf("%w: merge_config.sh failed (%v; log %s): %s", ErrConfig, err, logPath, tail(string(out), 5))
	}
	if err := b.make(ctx, "syncconfig", "config.log"); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

// make runs one make target in the build directory, appending to logName
// (truncated for bzImage).
func (b *builder) make(ctx context.Context, target, logName string) error {
	args := []string{"-C", b.tree, "O=" + b.dir, "ARCH=" + Arch, "CC=" + b.cc(), "-j", fmt.Sprint(b.c.jobs), target}
	logPath := filepath.Join(b.dir, logName)
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if target == "bzImage" {
		flags = os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	}
	logFile, err := os.OpenFile(logPath, flags, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "$ make %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if b.c.ccache && os.Getenv("CCACHE_DIR") == "" {
		cmd.Env = append(cmd.Env, "CCACHE_DIR="+filepath.Join(b.c.cacheDir, "ccache"))
	}
	// make and its compilers form their own process group, and a cancelled
	// build (a signal to zcsuite) stops the whole group, not only make.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: make: %v", ErrTools, err)
	}
	var (
		lines    []string
		mu       sync.Mutex
		compiled int
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			fmt.Fprintln(logFile, l)
			mu.Lock()
			lines = append(lines, l)
			if strings.HasPrefix(l, "  CC ") {
				compiled++
			}
			mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	stop := make(chan struct{})
	if b.c.progress > 0 && target == "bzImage" {
		start := time.Now()
		go func() {
			t := time.NewTicker(b.c.progress)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					mu.Lock()
					n := compiled
					mu.Unlock()
					b.c.logf("  make %s: %d files compiled after %.0fs", target, n, time.Since(start).Seconds())
				}
			}
		}()
	}
	err = cmd.Wait()
	pw.Close()
	wg.Wait()
	close(stop)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return &BuildError{Target: target, Log: logPath, Lines: ErrorLines(lines, b.tree), Err: err}
	}
	return nil
}

// ErrorLines picks the compiler's and linker's error lines out of make's
// output, with one line before and three after each (gcc's source excerpt),
// at most 40 lines; tree paths are made relative. Without any, it returns
// the last 15 lines.
func ErrorLines(out []string, tree string) []string {
	isErr := func(l string) bool {
		return strings.Contains(l, "error:") || strings.Contains(l, "undefined reference to") ||
			strings.Contains(l, "multiple definition of") || strings.Contains(l, "Error: ")
	}
	keep := make([]bool, len(out))
	any := false
	for i, l := range out {
		if !isErr(l) {
			continue
		}
		any = true
		for j := max(0, i-1); j <= min(len(out)-1, i+3); j++ {
			if j == i || !kbuildQuiet(out[j]) {
				keep[j] = true
			}
		}
	}
	var res []string
	if !any {
		start := max(0, len(out)-15)
		res = append(res, out[start:]...)
	} else {
		last := -2
		for i, k := range keep {
			if !k {
				continue
			}
			if last >= 0 && i != last+1 {
				res = append(res, "...")
			}
			res = append(res, out[i])
			last = i
		}
	}
	if len(res) > 40 {
		res = append(res[:40], fmt.Sprintf("... (%d more lines)", len(res)-40))
	}
	if tree != "" {
		for i := range res {
			res[i] = strings.ReplaceAll(res[i], tree+"/", "")
		}
	}
	return res
}

// kbuildQuiet reports a kbuild progress line ("  CC      fs/fuse/dev.o") or a
// make bookkeeping line, which are not context for an error.
func kbuildQuiet(l string) bool {
	if strings.HasPrefix(l, "make[") || strings.HasPrefix(l, "make:") {
		return true
	}
	if len(l) > 3 && l[0] == ' ' && l[1] == ' ' && l[2] != ' ' {
		f := strings.Fields(l)
		return len(f) == 2 && strings.ToUpper(f[0]) == f[0]
	}
	return false
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// regular reports whether path is a regular file.
func regular(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

var makeVarRE = regexp.MustCompile(`(?m)^(VERSION|PATCHLEVEL) = ([0-9]+)$`)

// treeRelease returns a tree's MAJOR.MINOR from its top Makefile ("" when
// it cannot tell).
func treeRelease(tree string) string {
	data, err := os.ReadFile(filepath.Join(tree, "Makefile"))
	if err != nil {
		return ""
	}
	v := map[string]string{}
	for _, m := range makeVarRE.FindAllStringSubmatch(string(data[:min(len(data), 4096)]), -1) {
		if _, ok := v[m[1]]; !ok {
			v[m[1]] = m[2]
		}
	}
	if v["VERSION"] == "" || v["PATCHLEVEL"] == "" {
		return ""
	}
	return v["VERSION"] + "." + v["PATCHLEVEL"]
}
