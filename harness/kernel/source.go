package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/zcsuite/zcsuite/harness/cachelock"
	"github.com/zcsuite/zcsuite/vmimage/filesum"
)

// BuildDeps are the Debian packages a host needs to build a kernel tree
// (and to unpack linux-source; lz4 compresses the bzImage of
// kernelconfig/min.config): run.sh installs them when they are missing.
var BuildDeps = []string{"gcc", "make", "flex", "bison", "bc", "libelf-dev", "libssl-dev", "xz-utils", "lz4", "perl"}

// Source is an unpacked Debian linux-source package.
type Source struct {
	// Package and Version identify the Debian package
	// (linux-source-7.3, 7.3~rc7-1~exp1).
	Package string `json:"package"`
	Version string `json:"version"`
	// DebSHA256 is the sha256 of the .deb as the archive lists it.
	DebSHA256 string `json:"deb_sha256,omitempty"`
	// Tree is the top directory of the unpacked kernel tree.
	Tree string `json:"tree"`
}

var sourceVersionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)

// FetchSource resolves Debian's linux-source-VERSION package by name with
// the private apt configuration under cacheDir, downloads the newest version
// and unpacks its /usr/src/linux-source-VERSION.tar.xz once into
// cacheDir/sources (concurrent callers wait on a lock; an interrupted unpack
// is redone). When the archive cannot be reached it falls back to a tree
// already unpacked for VERSION.
func FetchSource(ctx context.Context, version, cacheDir string, logf func(string, ...any)) (*Source, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if !sourceVersionRE.MatchString(version) {
		return nil, fmt.Errorf("%w: source version %q (want MAJOR.MINOR, e.g. 7.3)", ErrBadSpec, version)
	}
	if _, err := exec.LookPath("tar"); err != nil {
		return nil, fmt.Errorf("%w: tar is not installed", ErrFetch)
	}
	pkg := "linux-source-" + version
	src, deb, err := resolveSource(ctx, pkg, cacheDir, logf)
	if err != nil {
		if old := unpackedSources(cacheDir, pkg); len(old) > 0 && !errors.Is(err, ErrUnknownDebian) {
			logf("warning: %v; using the tree unpacked before: %s", err, old[0].Tree)
			return old[0], nil
		}
		return nil, err
	}
	if deb == "" {
		return src, nil
	}
	// Unpack under the source's own lock, so the apt lock is not held for
	// the minute this takes.
	root := filepath.Dir(src.Tree)
	unlock, err := cachelock.Lock(ctx, root+".lock", logf)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	defer unlock()
	if complete(root) {
		return src, nil
	}
	logf("unpacking %s %s into %s", pkg, src.Version, root)
	if err := unpackSource(ctx, deb, pkg, root); err != nil {
		return nil, err
	}
	os.Remove(deb) // 160 MB that the unpacked tree makes useless
	return src, nil
}

// resolveSource finds the newest linux-source package and, when it is not
// unpacked yet, downloads it and returns the .deb's path.
func resolveSource(ctx context.Context, pkg, cacheDir string, logf func(string, ...any)) (*Source, string, error) {
	a, unlock, err := openApt(ctx, cacheDir, logf)
	if err != nil {
		return nil, "", err
	}
	defer unlock()
	names, err := a.run(ctx, a.Dir, "apt-cache", "pkgnames", pkg)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrFetch, err)
	}
	if !contains(strings.Fields(string(names)), pkg) {
		return nil, "", fmt.Errorf("%w: no package %s in %s", ErrUnknownDebian, pkg, debianSuites)
	}
	best, err := a.newest(ctx, pkg)
	if err != nil {
		return nil, "", err
	}
	root := filepath.Join(cacheDir, "sources", pkg+"_"+sanitize(best.Version))
	src := &Source{Package: pkg, Version: best.Version, DebSHA256: best.SHA256, Tree: filepath.Join(root, pkg)}
	if complete(root) {
		return src, "", nil
	}
	logf("fetching %s %s (about 160 MB)", pkg, best.Version)
	debs, err := a.download(ctx, best.Version, pkg)
	if err != nil {
		return nil, "", err
	}
	if sum, err := filesum.SHA256(debs[0]); err != nil || (best.SHA256 != "" && sum != best.SHA256) {
		os.Remove(debs[0])
		return nil, "", fmt.Errorf("%w: %s sha256 %s does not match the archive's %s (%v)", ErrFetch, debs[0], sum, best.SHA256, err)
	}
	return src, debs[0], nil
}

// unpackSource extracts the tarball inside deb into root/<pkg>: first into a
// scratch directory beside root, renamed into place when complete.
func unpackSource(ctx context.Context, deb, pkg, root string) error {
	parent := filepath.Dir(root)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	// Leftovers of an unpack that was killed (the caller holds the lock).
	os.RemoveAll(root)
	old, _ := filepath.Glob(root + ".unpack-*")
	for _, o := range old {
		os.RemoveAll(o)
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(root)+".unpack-")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	defer os.RemoveAll(tmp)
	debRoot := filepath.Join(tmp, "deb")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, debRoot).CombinedOutput(); err != nil {
		return fmt.Errorf("%w: dpkg-deb -x %s: %v: %s", ErrFetch, deb, err, out)
	}
	tarball := filepath.Join(debRoot, "usr/src", pkg+".tar.xz")
	if _, err := os.Stat(tarball); err != nil {
		return fmt.Errorf("%w: %s holds no /usr/src/%s.tar.xz", ErrFetch, filepath.Base(deb), pkg)
	}
	tree := filepath.Join(tmp, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	if out, err := exec.CommandContext(ctx, "tar", "--no-same-owner", "-xJf", tarball, "-C", tree).CombinedOutput(); err != nil {
		return fmt.Errorf("%w: tar -xJf %s: %v: %s", ErrFetch, tarball, err, lastLines(string(out), 3))
	}
	if _, err := os.Stat(filepath.Join(tree, pkg, "Makefile")); err != nil {
		return fmt.Errorf("%w: %s.tar.xz has no %s/Makefile", ErrFetch, pkg, pkg)
	}
	if err := os.Rename(tree, root); err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	if err := os.WriteFile(filepath.Join(root, ".complete"), nil, 0o644); err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	return nil
}

// unpackedSources lists the complete trees of pkg in the cache, newest
// Debian version first.
func unpackedSources(cacheDir, pkg string) []*Source {
	dirs, _ := filepath.Glob(filepath.Join(cacheDir, "sources", pkg+"_*"))
	var out []*Source
	for _, d := range dirs {
		if !complete(d) {
			continue
		}
		v := strings.ReplaceAll(strings.TrimPrefix(filepath.Base(d), pkg+"_"), "%3a", ":")
		out = append(out, &Source{Package: pkg, Version: v, Tree: filepath.Join(d, pkg)})
	}
	sort.Slice(out, func(i, j int) bool { return versionGreater(out[i].Version, out[j].Version) })
	return out
}

func complete(root string) bool {
	_, err := os.Stat(filepath.Join(root, ".complete"))
	return err == nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
