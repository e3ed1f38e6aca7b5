package kbuild

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/harness/kconfig"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDroppedOptions(t *testing.T) {
	dir := t.TempDir()
	min := writeFile(t, dir, "min.config", `# comment
CONFIG_FUSE_FS=y
CONFIG_FUSE_IO_URING=y
CONFIG_NR_CPUS=8
CONFIG_SLUB_TINY=y
CONFIG_NOT_IN_TREE=y
# CONFIG_MODULES is not set
`)
	debug := writeFile(t, dir, "debug.config", `# CONFIG_SLUB_TINY is not set
CONFIG_KASAN=y
`)
	got, err := kconfig.Parse(strings.NewReader(`CONFIG_FUSE_FS=y
# CONFIG_FUSE_IO_URING is not set
CONFIG_NR_CPUS=2
CONFIG_KASAN=m
`))
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := DroppedOptions(got, min, debug)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dropped {
		names = append(names, d.Option+"="+d.Want+"/"+d.Got+"@"+d.Fragment)
	}
	want := []string{
		"CONFIG_FUSE_IO_URING=y/n@min.config",
		"CONFIG_KASAN=y/m@debug.config",
		"CONFIG_NOT_IN_TREE=y/n@min.config",
		"CONFIG_NR_CPUS=8/2@min.config",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("dropped:\n got %v\nwant %v", names, want)
	}
	// The debug fragment's "is not set" overrides min's =y and is met by
	// an absent option; MODULES is absent and wanted off: met too.
	err = &ConfigError{Config: "x/.config", Dropped: append(dropped[:1:1], Dropped{Option: "CONFIG_NOT_IN_TREE", Want: "y", Got: "n", Fragment: "min.config", Unknown: true})}
	if !errors.Is(err, ErrConfig) {
		t.Fatal("ConfigError is not ErrConfig")
	}
	msg := err.Error()
	for _, s := range []string{"dropped 2 option(s)", "CONFIG_FUSE_IO_URING=y (min.config) ended up not set", "CONFIG_NOT_IN_TREE=y (min.config) is not an option of this tree"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q lacks %q", msg, s)
		}
	}
}

func TestDefinedOptions(t *testing.T) {
	tree := t.TempDir()
	writeFile(t, tree, "Kconfig", "source \"fs/Kconfig\"\nconfig FOO\n\tbool \"foo\"\n")
	writeFile(t, tree, "fs/fuse/Kconfig", "menuconfig FUSE_FS\n\ttristate\nconfig FUSE_IO_URING\n\tbool\n  # config NOT_ME\n")
	writeFile(t, tree, "Documentation/Kconfig", "config DOC_ONLY\n")
	syms := definedOptions(tree)
	for _, s := range []string{"FOO", "FUSE_FS", "FUSE_IO_URING"} {
		if !syms[s] {
			t.Errorf("%s not found", s)
		}
	}
	for _, s := range []string{"NOT_ME", "DOC_ONLY"} {
		if syms[s] {
			t.Errorf("%s found", s)
		}
	}
}

func TestErrorLines(t *testing.T) {
	out := []string{
		"  CC      fs/fuse/dev.o",
		"  CC      fs/fuse/file.o",
		"/src/linux/fs/fuse/dev_uring.c: In function 'fuse_uring_add_queue':",
		"/src/linux/fs/fuse/dev_uring.c:123:9: error: 'bogus' undeclared (first use in this function)",
		"  123 |         bogus = 1;",
		"      |         ^~~~~",
		"  CC      fs/fuse/inode.o",
		"make[4]: *** [/src/linux/scripts/Makefile.build:287: fs/fuse/dev_uring.o] Error 1",
		"make[3]: *** [fs] Error 2",
	}
	got := ErrorLines(out, "/src/linux")
	want := []string{
		"fs/fuse/dev_uring.c: In function 'fuse_uring_add_queue':",
		"fs/fuse/dev_uring.c:123:9: error: 'bogus' undeclared (first use in this function)",
		"  123 |         bogus = 1;",
		"      |         ^~~~~",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The linker's errors count as well.
	got = ErrorLines([]string{"  LD      vmlinux.o", "ld: fs/fuse/dev.o: in function `f':", "dev.c:(.text+0x1): undefined reference to `g'", "make: *** Error 2"}, "")
	if len(got) != 2 || !strings.Contains(got[1], "undefined reference") {
		t.Fatalf("linker: %q", got)
	}
	// Without error lines: the tail.
	var many []string
	for i := 0; i < 30; i++ {
		many = append(many, "line")
	}
	if got := ErrorLines(many, ""); len(got) != 15 {
		t.Fatalf("tail: %d lines", len(got))
	}
}

func TestKconfigInputs(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "auto.conf.cmd", "autoconfig := include/config/auto.conf\n\ndeps_config := \\\n\tKconfig \\\n\tinit/Kconfig \\\n\tfs/fuse/Kconfig\n\n$(autoconfig): $(deps_config)\n")
	got := kconfigInputs(p)
	if strings.Join(got, ",") != "Kconfig,init/Kconfig,fs/fuse/Kconfig" {
		t.Fatalf("got %q", got)
	}
}

func TestCheckTree(t *testing.T) {
	tree := t.TempDir()
	if _, err := CheckTree(tree); !errors.Is(err, ErrTree) {
		t.Fatalf("empty dir: %v", err)
	}
	for _, f := range []string{"Makefile", "Kconfig", "scripts/kconfig/merge_config.sh", "arch/x86/Kconfig"} {
		writeFile(t, tree, f, "")
	}
	if _, err := CheckTree(tree); !errors.Is(err, ErrTree) || !strings.Contains(err.Error(), "dev_uring.c") {
		t.Fatalf("no dev_uring.c: %v", err)
	}
	writeFile(t, tree, "fs/fuse/dev_uring.c", "")
	got, err := CheckTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(tree)
	if got != real {
		t.Fatalf("got %s, want %s", got, real)
	}
	writeFile(t, tree, ".config", "")
	if _, err := CheckTree(tree); !errors.Is(err, ErrTree) || !strings.Contains(err.Error(), "mrproper") {
		t.Fatalf("in-tree .config: %v", err)
	}
}

func TestDir(t *testing.T) {
	a, b := Dir("/c", "/src/a", "min"), Dir("/c", "/src/b", "min")
	if a == b || Dir("/c", "/src/a", "debug") == a || filepath.Dir(a) != "/c/kbuild" {
		t.Fatalf("%s %s", a, b)
	}
}

// TestBuild builds the tree named by ZCSUITE_KBUILD_TREE (minutes); the
// cache is ZCSUITE_CACHE, else a temporary directory.
func TestBuild(t *testing.T) {
	tree := os.Getenv("ZCSUITE_KBUILD_TREE")
	if tree == "" {
		t.Skip("ZCSUITE_KBUILD_TREE is not set (a real kernel build takes minutes)")
	}
	cache := os.Getenv("ZCSUITE_CACHE")
	if cache == "" {
		cache = t.TempDir()
	}
	frags, _ := filepath.Abs("../../kernelconfig")
	opts := []Option{WithCacheDir(cache), WithFragmentDir(frags), WithLogf(t.Logf), WithDebug(os.Getenv("ZCSUITE_KBUILD_DEBUG") != ""), WithCCache(os.Getenv("ZCSUITE_KBUILD_CCACHE") != "")}
	t0 := time.Now()
	r, err := BuildResult(context.Background(), tree, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first build: %.1fs (configured %v, config %.1fs, make %.1fs) %+v", time.Since(t0).Seconds(), r.Configured, r.ConfigTime.Seconds(), r.MakeTime.Seconds(), *r.Kernel)
	t0 = time.Now()
	r2, err := BuildResult(context.Background(), tree, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Configured {
		t.Error("the second build reconfigured")
	}
	t.Logf("no-change rebuild: %.1fs (make %.1fs)", time.Since(t0).Seconds(), r2.MakeTime.Seconds())
}

// TestBuildDropped configures the tree named by ZCSUITE_KBUILD_TREE with
// fragments asking for an option that does not exist and one whose
// dependency is off: the build must stop before make with ErrConfig naming
// both.
func TestBuildDropped(t *testing.T) {
	tree := os.Getenv("ZCSUITE_KBUILD_TREE")
	if tree == "" {
		t.Skip("ZCSUITE_KBUILD_TREE is not set (configuring a real tree takes a minute)")
	}
	min, err := os.ReadFile("../../kernelconfig/min.config")
	if err != nil {
		t.Fatal(err)
	}
	frags := t.TempDir()
	// KASAN_VMALLOC depends on KASAN, which min.config leaves off.
	writeFile(t, frags, MinFragment, string(min)+"CONFIG_ZCSUITE_NO_SUCH_OPTION=y\nCONFIG_KASAN_VMALLOC=y\n")
	_, err = Build(context.Background(), tree, WithCacheDir(t.TempDir()), WithFragmentDir(frags), WithLogf(t.Logf))
	var ce *ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
		t.Fatalf("got %v, want a *ConfigError", err)
	}
	msg := err.Error()
	for _, s := range []string{"dropped 2 option(s)", "CONFIG_KASAN_VMALLOC=y (min.config) ended up not set", "CONFIG_ZCSUITE_NO_SUCH_OPTION=y (min.config) is not an option of this tree"} {
		if !strings.Contains(msg, s) {
			t.Errorf("%q lacks %q", msg, s)
		}
	}
	t.Log(msg)
}

func TestCheckTreeID(t *testing.T) {
	tree, dir := t.TempDir(), t.TempDir()
	b := &builder{c: config{logf: t.Logf}, tree: tree, dir: dir}
	want := stamp{TreeID: treeID(tree)}
	if want.TreeID == "" {
		t.Fatal("no tree id")
	}
	writeFile(t, dir, ".zcsuite-lock", "")
	writeFile(t, dir, "fs/fuse/dev_uring.o", "stale")
	// Same tree: nothing happens.
	b.writeStamp(want)
	if err := b.checkTreeID(want); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "fs/fuse/dev_uring.o")); err != nil {
		t.Fatal("the build directory was emptied for the same tree")
	}
	// The tree was recreated: objects go, the lock stays.
	b.writeStamp(stamp{TreeID: "1:2"})
	if err := b.checkTreeID(want); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "fs")); !os.IsNotExist(err) {
		t.Fatal("stale objects survived a recreated tree")
	}
	if _, err := os.Stat(filepath.Join(dir, ".zcsuite-lock")); err != nil {
		t.Fatal("the lock file was removed")
	}
}

func TestTreeRelease(t *testing.T) {
	for body, want := range map[string]string{
		"# SPDX\nVERSION = 7\nPATCHLEVEL = 2\nSUBLEVEL = 13\n": "7.2",
		"VERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 0\n":          "7.3",
		"VERSION = 7\n":  "",
		"all:\n\ttrue\n": "",
	} {
		dir := t.TempDir()
		writeFile(t, dir, "Makefile", body)
		if got := treeRelease(dir); got != want {
			t.Errorf("treeRelease(%q) = %q, want %q", body, got, want)
		}
	}
	if got := treeRelease(t.TempDir()); got != "" {
		t.Errorf("no Makefile: %q", got)
	}
}

// The release fragments in kernelconfig are named for a release and only
// add to min.config.
func TestReleaseFragments(t *testing.T) {
	fs, err := filepath.Glob("../../kernelconfig/min-*.config")
	if err != nil || len(fs) == 0 {
		t.Fatalf("no release fragment: %v", err)
	}
	min, err := kconfig.FromFile("../../kernelconfig/" + MinFragment)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		rel := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "min-"), ".config")
		if !makeVarRE.MatchString("VERSION = " + strings.Replace(rel, ".", "\nPATCHLEVEL = ", 1)) {
			t.Errorf("%s: not named min-MAJOR.MINOR.config", f)
		}
		c, err := kconfig.FromFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for opt := range c {
			if _, ok := min[opt]; ok {
				t.Errorf("%s sets %s, which min.config sets too", f, opt)
			}
		}
	}
}
