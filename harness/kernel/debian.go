package kernel

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/harness/cachelock"
)

// DebianSources are the suites searched, newest first. The 7.3 kernels are
// in experimental, the 7.2 ones in sid, and trixie (Debian 13) has 6.12,
// which predates FUSE-over-io_uring (6.14).
var DebianSources = []string{
	"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian experimental main",
	"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main",
	"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main",
}

// debianSuites names DebianSources' suites for messages.
const debianSuites = "Debian experimental, sid or trixie"

// Debian's kernel packages are named in two ways: from 7.x on, the image
// is in linux-binary-VERSION-FLAVOUR-amd64 with the modules' companion
// linux-base-VERSION-FLAVOUR-amd64; before (trixie's 6.12), one
// linux-image-VERSION-FLAVOUR-amd64 package holds both.
const (
	binaryPrefix = "linux-binary-"
	basePrefix   = "linux-base-"
	imagePrefix  = "linux-image-"
)

// ListsMaxAge is how old the private package lists may be before Fetch
// refreshes them.
const ListsMaxAge = 12 * time.Hour

var debianSpecRE = regexp.MustCompile(`^debian:([0-9]+\.[0-9]+(?:\.[0-9]+)?)-([a-z0-9]+)$`)

// ParseDebianSpec splits "debian:7.3-cloud" into version and flavour.
func ParseDebianSpec(spec string) (version, flavour string, err error) {
	m := debianSpecRE.FindStringSubmatch(spec)
	if m == nil {
		return "", "", fmt.Errorf("%w: %q (want debian:VERSION-FLAVOUR, e.g. debian:7.3-cloud)", ErrBadSpec, spec)
	}
	return m[1], m[2], nil
}

// Apt runs apt with a private configuration rooted at Dir.
type Apt struct {
	Dir  string
	Logf func(string, ...any)
}

func (a *Apt) opts() []string {
	return []string{
		"-o", "Dir::Etc::SourceList=" + filepath.Join(a.Dir, "sources.list"),
		"-o", "Dir::Etc::SourceParts=/dev/null",
		"-o", "Dir::Etc::Preferences=/dev/null",
		"-o", "Dir::Etc::PreferencesParts=/dev/null",
		"-o", "Dir::State::Lists=" + filepath.Join(a.Dir, "lists"),
		"-o", "Dir::State::Status=" + filepath.Join(a.Dir, "status"),
		"-o", "Dir::Cache=" + filepath.Join(a.Dir, "cache"),
		"-o", "APT::Architecture=amd64",
		"-o", "Debug::NoLocking=1",
		"-o", "APT::Sandbox::User=root",
		"-o", "Acquire::Retries=3",
		"-q",
	}
}

func (a *Apt) run(ctx context.Context, dir, tool string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, tool, append(a.opts(), args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %v: %s", tool, strings.Join(args, " "), err, lastLines(stderr.String(), 3))
	}
	return out, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// prepare writes the private configuration and refreshes stale lists.
func (a *Apt) prepare(ctx context.Context) error {
	for _, d := range []string{"lists/partial", "cache/archives/partial", "debs"} {
		if err := os.MkdirAll(filepath.Join(a.Dir, d), 0o755); err != nil {
			return err
		}
	}
	src := strings.Join(DebianSources, "\n") + "\n"
	srcPath := filepath.Join(a.Dir, "sources.list")
	old, _ := os.ReadFile(srcPath)
	changed := string(old) != src
	if changed {
		if err := os.WriteFile(srcPath, []byte(src), 0o644); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(a.Dir, "status")); err != nil {
		os.WriteFile(filepath.Join(a.Dir, "status"), nil, 0o644)
	}
	stamp := filepath.Join(a.Dir, "lists.stamp")
	st, err := os.Stat(stamp)
	if !changed && err == nil && time.Since(st.ModTime()) < ListsMaxAge {
		return nil
	}
	a.logf("refreshing the private Debian package lists (%s)", a.Dir)
	if _, uerr := a.run(ctx, a.Dir, "apt-get", "update"); uerr != nil {
		if st == nil {
			return uerr
		}
		a.logf("warning: apt-get update failed, using lists from %s: %v", st.ModTime().Format(time.RFC3339), uerr)
		return nil
	}
	return os.WriteFile(stamp, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}

func (a *Apt) logf(format string, v ...any) {
	if a.Logf != nil {
		a.Logf(format, v...)
	}
}

// pkgInfo is one candidate version from apt-cache show.
type pkgInfo struct {
	Name, Version, SHA256 string
}

// show returns every version of pkg the lists know.
func (a *Apt) show(ctx context.Context, pkg string) ([]pkgInfo, error) {
	out, err := a.run(ctx, a.Dir, "apt-cache", "show", pkg)
	if err != nil {
		return nil, err
	}
	var res []pkgInfo
	var cur pkgInfo
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	flush := func() {
		if cur.Name != "" && cur.Version != "" {
			res = append(res, cur)
		}
		cur = pkgInfo{}
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "Package":
			cur.Name = v
		case "Version":
			cur.Version = v
		case "SHA256":
			cur.SHA256 = v
		}
	}
	flush()
	return res, nil
}

// versionGreater compares Debian versions with dpkg.
func versionGreater(a, b string) bool {
	return exec.Command("dpkg", "--compare-versions", a, "gt", b).Run() == nil
}

// openApt checks that the apt and dpkg tools are installed, takes the
// private apt directory's lock and refreshes its package lists. The caller
// must call the returned unlock.
func openApt(ctx context.Context, cacheDir string, logf func(string, ...any)) (*Apt, func(), error) {
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb", "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, nil, fmt.Errorf("%w: %s is not installed (Debian packages need apt and dpkg)", ErrFetch, tool)
		}
	}
	a := &Apt{Dir: filepath.Join(cacheDir, "apt"), Logf: logf}
	unlock, err := cachelock.Lock(ctx, filepath.Join(a.Dir, "lock"), logf)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	if err := a.prepare(ctx); err != nil {
		unlock()
		return nil, nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	return a, unlock, nil
}

// newest returns the newest version of any of the named packages (the zero
// pkgInfo when the lists know none of them).
func (a *Apt) newest(ctx context.Context, names ...string) (pkgInfo, error) {
	var best pkgInfo
	for _, n := range names {
		infos, err := a.show(ctx, n)
		if err != nil {
			return pkgInfo{}, fmt.Errorf("%w: %v", ErrFetch, err)
		}
		for _, in := range infos {
			if best.Name == "" || versionGreater(in.Version, best.Version) {
				best = in
			}
		}
	}
	return best, nil
}

// download fetches the named packages at version into a.Dir/debs and
// returns the .deb paths in the order of names.
func (a *Apt) download(ctx context.Context, version string, names ...string) ([]string, error) {
	debDir := filepath.Join(a.Dir, "debs")
	var args []string
	for _, n := range names {
		args = append(args, n+"="+version)
	}
	if _, err := a.run(ctx, debDir, "apt-get", append([]string{"download"}, args...)...); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	paths := make([]string, len(names))
	for i, p := range names {
		if paths[i] = cachedDeb(debDir, p, version); paths[i] == "" {
			return nil, fmt.Errorf("%w: downloaded %s not found in %s", ErrFetch, p, debDir)
		}
	}
	return paths, nil
}

// FetchDebian resolves spec by package name and unpacks the newest
// matching linux-binary and linux-base packages under cacheDir. A folder
// unpacked earlier is checked first: when its image is missing or its
// sha256 is not the one recorded at unpacking, it is unpacked again from
// the cached .deb files (downloaded again if they are damaged), with a line
// saying so.
func FetchDebian(ctx context.Context, spec, cacheDir string, logf func(string, ...any)) (*Kernel, error) {
	version, flavour, err := ParseDebianSpec(spec)
	if err != nil {
		return nil, err
	}
	a, unlock, err := openApt(ctx, cacheDir, logf)
	if err != nil {
		return nil, err
	}
	defer unlock()
	best, err := a.resolve(ctx, spec, version, flavour)
	if err != nil {
		return nil, err
	}
	names := []string{best.Name}
	if rest, ok := strings.CutPrefix(best.Name, binaryPrefix); ok {
		names = append(names, basePrefix+rest)
	}
	root := filepath.Join(cacheDir, "kernels", best.Name+"_"+sanitize(best.Version))
	k, err := unpackedKernel(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			logf("fetching %s %s", strings.Join(names, " and "), best.Version)
		} else {
			logf("kernel cache %s: %v; unpacking it again from the .deb files", filepath.Base(root), err)
		}
		if err := a.unpack(ctx, root, best, names); err != nil {
			return nil, err
		}
		if k, err = unpackedKernel(root); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFetch, err)
		}
	}
	k.Spec, k.Source = spec, "debian"
	k.Package, k.Version, k.DebSHA256 = best.Name, best.Version, best.SHA256
	return k, nil
}

func sanitize(v string) string {
	return strings.NewReplacer(":", "%3a", "/", "_").Replace(v)
}

// debEscape spells a version the way apt names downloaded files (an epoch
// colon becomes %3a).
func debEscape(v string) string { return strings.ReplaceAll(v, ":", "%3a") }

// resolve finds the newest linux-binary (or, for kernels before 7.x,
// linux-image) package for version and flavour.
// The answer is cached beside the package lists and reused while the lists
// are unchanged, so a warm run asks apt nothing.
func (a *Apt) resolve(ctx context.Context, spec, version, flavour string) (pkgInfo, error) {
	stamp, _ := os.ReadFile(filepath.Join(a.Dir, "lists.stamp"))
	cacheFile := filepath.Join(a.Dir, "resolved", sanitize(spec)+".json")
	var cached struct {
		Stamp string
		Info  pkgInfo
	}
	if b, err := os.ReadFile(cacheFile); err == nil && json.Unmarshal(b, &cached) == nil && cached.Stamp == string(stamp) && cached.Info.Name != "" {
		return cached.Info, nil
	}
	nameRE := kernelPackageRE(version, flavour)
	var candidates []string
	for _, prefix := range []string{binaryPrefix, imagePrefix} {
		names, err := a.run(ctx, a.Dir, "apt-cache", "pkgnames", prefix+version)
		if err != nil {
			return pkgInfo{}, fmt.Errorf("%w: %v", ErrFetch, err)
		}
		for _, n := range strings.Fields(string(names)) {
			if nameRE.MatchString(n) {
				candidates = append(candidates, n)
			}
		}
	}
	sort.Strings(candidates)
	best, err := a.newest(ctx, candidates...)
	if err != nil {
		return pkgInfo{}, err
	}
	if best.Name == "" {
		return pkgInfo{}, fmt.Errorf("%w: %s (no package linux-binary-%s*-%s-amd64 or linux-image-%[3]s*-%[4]s-amd64 in %s)", ErrUnknownDebian, spec, version, flavour, debianSuites)
	}
	cached.Stamp, cached.Info = string(stamp), best
	if b, err := json.Marshal(cached); err == nil {
		os.MkdirAll(filepath.Dir(cacheFile), 0o755)
		os.WriteFile(cacheFile, b, 0o644)
	}
	return best, nil
}

// kernelPackageRE matches the kernel packages of version and flavour in
// either naming: linux-binary-7.2.13+deb14-cloud-amd64,
// linux-image-6.12.57+deb13-cloud-amd64 (not the -unsigned or -dbg ones).
func kernelPackageRE(version, flavour string) *regexp.Regexp {
	return regexp.MustCompile(`^linux-(binary|image)-` + regexp.QuoteMeta(version) + `(\.[0-9]+)*(\+deb[0-9]+)?-` + regexp.QuoteMeta(flavour) + `-amd64$`)
}
