package vmimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/uio/llog"

	"github.com/zcsuite/zcsuite/vmimage/filesum"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// Paths inside the initramfs.
const (
	GuestDir  = "/zcsuite"
	InitPath  = GuestDir + "/zcinit"
	GuestTest = GuestDir + "/guest.test"
)

// formatVersion changes whenever the archive layout changes, so cached
// archives from an older layout are not reused.
const formatVersion = "zcsuite-initramfs-1"

// Binary is a Go package compiled into the image.
type Binary struct {
	// Package is the import path or ./relative directory.
	Package string
	// Test builds the package's test binary (go test -c) instead.
	Test bool
	// Name is the file name under GuestDir.
	Name string
}

// DefaultBinaries are what every zcsuite VM carries.
var DefaultBinaries = []Binary{
	{Package: "./vmimage/cmd/zcinit", Name: "zcinit"},
	{Package: "./suites/guest", Test: true, Name: "guest.test"},
	{Package: "./zcserver/cmd/zcserver", Name: "zcserver"},
	// zcserver's own tests mount FUSE: they run in the VM only
	// (vmevent.ServerTests, GuestConfig.GoTests).
	{Package: "./zcserver", Test: true, Name: path.Base(vmevent.ServerTests)},
}

type config struct {
	moduleDir string
	cacheDir  string
	binaries  []Binary
	extra     []string
	hostTools []string
	log       func(string, ...any)
}

// Option configures Build.
type Option func(*config) error

// WithModuleDir names the zcsuite module checkout to build from.
func WithModuleDir(dir string) Option {
	return func(c *config) error { c.moduleDir = dir; return nil }
}

// WithCacheDir names the directory for built binaries and archives.
func WithCacheDir(dir string) Option {
	return func(c *config) error { c.cacheDir = dir; return nil }
}

// WithBinaries replaces the set of Go packages built into the image.
func WithBinaries(b ...Binary) Option {
	return func(c *config) error { c.binaries = b; return nil }
}

// WithExtraFiles adds host files as "hostpath:archivepath" entries.
func WithExtraFiles(f ...string) Option {
	return func(c *config) error { c.extra = append(c.extra, f...); return nil }
}

// WithHostTools adds dynamically linked host programs (e.g. /usr/bin/fio)
// under /bin with the shared libraries ldd finds for them.
func WithHostTools(paths ...string) Option {
	return func(c *config) error {
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				return fmt.Errorf("vmimage: host tool: %w", err)
			}
		}
		c.hostTools = append(c.hostTools, paths...)
		return nil
	}
}

// WithLogf sends progress lines to f.
func WithLogf(f func(string, ...any)) Option {
	return func(c *config) error { c.log = f; return nil }
}

// Image is a built initramfs.
type Image struct {
	Path string
	// Hash is the content hash the archive is cached under.
	Hash string
	// Cached is true when the archive was reused.
	Cached bool
	// GuestTest is the host path of the guest test binary (for dry runs).
	GuestTest string
	// ServerTest is the host path of zcserver's test binary (to list its
	// tests).
	ServerTest string
	// CompileTime and PackTime are the phase durations.
	CompileTime, PackTime time.Duration
	Size                  int64
}

// ErrBuild is returned when compiling a guest binary fails.
var ErrBuild = errors.New("vmimage: build failed")

// Build compiles the binaries and returns the (possibly cached) initramfs.
func Build(ctx context.Context, opts ...Option) (*Image, error) {
	c := config{binaries: DefaultBinaries, log: func(string, ...any) {}}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.moduleDir == "" {
		dir, err := ModuleDir()
		if err != nil {
			return nil, err
		}
		c.moduleDir = dir
	}
	if c.cacheDir == "" {
		return nil, errors.New("vmimage: no cache directory")
	}
	binDir := filepath.Join(c.cacheDir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, fmt.Errorf("vmimage: %w", err)
	}
	img := &Image{}
	t0 := time.Now()
	var files []string
	// The go commands run concurrently: on a warm build cache each is
	// mostly its own start-up and cache lookup.
	errs := make([]error, len(c.binaries))
	var wg sync.WaitGroup
	for i, b := range c.binaries {
		out := filepath.Join(binDir, b.Name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = compile(ctx, c.moduleDir, b, out)
		}()
		files = append(files, out+":"+strings.TrimPrefix(GuestDir, "/")+"/"+b.Name)
		if b.Name == filepath.Base(GuestTest) {
			img.GuestTest = out
		}
		if b.Name == path.Base(vmevent.ServerTests) {
			img.ServerTest = out
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	files = append(files, c.extra...)
	img.CompileTime = time.Since(t0)

	var tools []string
	for _, t := range c.hostTools {
		tools = append(tools, t+":bin/"+filepath.Base(t))
	}
	hash, err := contentHash(append(append([]string(nil), files...), tools...))
	if err != nil {
		return nil, err
	}
	img.Hash = hash
	archDir := filepath.Join(c.cacheDir, "initramfs")
	if err := os.MkdirAll(archDir, 0o755); err != nil {
		return nil, fmt.Errorf("vmimage: %w", err)
	}
	if path, size, ok := cachedArchive(archDir, hash, c.log); ok {
		img.Path, img.Size, img.Cached = path, size, true
		return img, nil
	}
	t1 := time.Now()
	tmpDir, err := os.MkdirTemp(c.cacheDir, "uimage-")
	if err != nil {
		return nil, fmt.Errorf("vmimage: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	tmpOut := filepath.Join(tmpDir, "initramfs.cpio")
	l := llog.New(slog.LevelWarn, func(format string, v ...any) { c.log("mkuimage: "+format, v...) })
	mods := []uimage.Modifier{
		uimage.WithFiles(files...),
		uimage.WithInit(InitPath),
		uimage.WithSkipLDD(),
		uimage.WithTempDir(tmpDir),
		uimage.WithCPIOOutput(tmpOut),
	}
	if len(tools) > 0 {
		// Host programs need their libraries: pack them into a base
		// archive with ldd on, then add our static binaries without it.
		base := filepath.Join(tmpDir, "tools.cpio")
		if err := uimage.Create(l, uimage.WithFiles(tools...), uimage.WithTempDir(tmpDir), uimage.WithCPIOOutput(base)); err != nil {
			return nil, fmt.Errorf("vmimage: pack host tools: %w", err)
		}
		mods = append(mods, uimage.WithBaseFile(base))
	}
	err = uimage.Create(l, mods...)
	if err != nil {
		return nil, fmt.Errorf("vmimage: pack initramfs: %w", err)
	}
	sum, err := filesum.SHA256(tmpOut)
	if err != nil {
		return nil, fmt.Errorf("vmimage: %w", err)
	}
	img.Path = archivePath(archDir, hash, sum)
	if err := os.Rename(tmpOut, img.Path); err != nil {
		return nil, fmt.Errorf("vmimage: %w", err)
	}
	img.PackTime = time.Since(t1)
	if st, err := os.Stat(img.Path); err == nil {
		img.Size = st.Size()
	}
	pruneArchives(archDir, img.Path, 4)
	return img, nil
}

// An archive's file name carries both hashes, "<input hash, 16 digits>-
// <sha256 of the archive>.cpio": the input hash finds it, and the sha256
// checks it on every use. One rename writes both, so concurrent builders
// never pair one archive with another's checksum.
func archivePath(dir, inputHash, sum string) string {
	return filepath.Join(dir, inputHash[:16]+"-"+sum+".cpio")
}

// cachedArchive returns an archive of inputHash whose content still has
// the sha256 its name records. An archive that does not is removed, with a
// line saying so, and the caller packs a new one.
func cachedArchive(dir, inputHash string, logf func(string, ...any)) (string, int64, bool) {
	paths, _ := filepath.Glob(filepath.Join(dir, inputHash[:16]+"-*.cpio"))
	for _, p := range paths {
		want := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), inputHash[:16]+"-"), ".cpio")
		got, err := filesum.SHA256(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			logf("initramfs %s cannot be read (%v); removing it and packing it again", p, err)
		case got != want:
			logf("initramfs %s has sha256 %s, not the %s it was packed with; removing it and packing it again", p, got[:16], want[:16])
		default:
			st, err := os.Stat(p)
			if err != nil {
				continue
			}
			now := time.Now()
			os.Chtimes(p, now, now) // most recently used: pruned last
			return p, st.Size(), true
		}
		os.Remove(p)
	}
	return "", 0, false
}

func compile(ctx context.Context, moduleDir string, b Binary, out string) error {
	args := []string{"build", "-trimpath", "-o", out, b.Package}
	if b.Test {
		args = []string{"test", "-c", "-trimpath", "-o", out, b.Package}
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-buildvcs=false")
	msg, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: go %s: %v\n%s", ErrBuild, strings.Join(args, " "), err, strings.TrimSpace(string(msg)))
	}
	return nil
}

func contentHash(files []string) (string, error) {
	sorted := append([]string(nil), files...)
	sort.Strings(sorted)
	h := sha256.New()
	io.WriteString(h, formatVersion+"\n")
	for _, f := range sorted {
		host, guest, _ := strings.Cut(f, ":")
		fh, err := os.Open(host)
		if err != nil {
			return "", fmt.Errorf("vmimage: %w", err)
		}
		fmt.Fprintf(h, "%s\n", guest)
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", fmt.Errorf("vmimage: hash %s: %w", host, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// pruneArchives keeps the newest n archives besides keep.
func pruneArchives(dir, keep string, n int) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type f struct {
		path string
		mod  time.Time
	}
	var fs []f
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if p == keep || !strings.HasSuffix(p, ".cpio") {
			continue
		}
		if info, err := e.Info(); err == nil {
			fs = append(fs, f{p, info.ModTime()})
		}
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].mod.After(fs[j].mod) })
	for i := n; i < len(fs); i++ {
		os.Remove(fs[i].path)
	}
}

// ModuleDir finds the zcsuite module root from the working directory.
func ModuleDir() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("vmimage: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("vmimage: not inside the zcsuite module (run from the checkout)")
	}
	return filepath.Dir(mod), nil
}
