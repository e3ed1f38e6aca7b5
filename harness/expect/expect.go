package expect

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// Match identifies kernels. Every non-empty field must match.
type Match struct {
	// SHA256 is the image's sha256.
	SHA256 string `json:"sha256,omitempty"`
	// Package and Version are glob patterns (path.Match) on the Debian
	// package name and version.
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	// Release is a regexp on the kernel release (uname -r).
	Release string `json:"release,omitempty"`
	// Config lists kernel config lines ("CONFIG_KASAN=y") that must all be
	// in the kernel's known config; a kernel whose config is not known
	// does not match.
	Config []string `json:"config,omitempty"`
}

// Issue is one known failure: a spec that fails (Spec), or a kernel splat
// that the kernel's own boot logs before any spec ran (BootSplat, the splat's
// exact title). Exactly one of the two is set.
type Issue struct {
	Spec      string          `json:"spec,omitempty"`
	BootSplat string          `json:"boot_splat,omitempty"`
	Outcome   verdict.Outcome `json:"outcome,omitempty"`
	Reason    string          `json:"reason"`
}

// Entry groups the issues of the kernels one Match selects.
type Entry struct {
	Match  Match   `json:"match"`
	Issues []Issue `json:"issues"`
}

// File is one expectations file.
type File struct {
	Path    string  `json:"-"`
	Entries []Entry `json:"kernels"`
}

// Load reads one file and validates it.
func Load(p string) (*File, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("expectations: %w", err)
	}
	f := &File{Path: p}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("expectations %s: %w", p, err)
	}
	for i, e := range f.Entries {
		m := e.Match
		if m.SHA256 == "" && m.Package == "" && m.Version == "" && m.Release == "" && len(m.Config) == 0 {
			return nil, fmt.Errorf("expectations %s: entry %d matches every kernel (empty match)", p, i)
		}
		if m.Release != "" {
			if _, err := regexp.Compile(m.Release); err != nil {
				return nil, fmt.Errorf("expectations %s: entry %d: release: %w", p, i, err)
			}
		}
		for _, g := range []string{m.Package, m.Version} {
			if _, err := path.Match(g, ""); err != nil {
				return nil, fmt.Errorf("expectations %s: entry %d: bad pattern %q", p, i, g)
			}
		}
		for _, c := range m.Config {
			if !strings.HasPrefix(c, "CONFIG_") || !strings.Contains(c, "=") {
				return nil, fmt.Errorf("expectations %s: entry %d: config %q is not a CONFIG_NAME=value line", p, i, c)
			}
		}
		for j, is := range e.Issues {
			if (is.Spec == "") == (is.BootSplat == "") || is.Reason == "" {
				return nil, fmt.Errorf("expectations %s: entry %d issue %d needs a reason and either a spec or a boot_splat", p, i, j)
			}
			if is.BootSplat != "" && is.Outcome != "" {
				return nil, fmt.Errorf("expectations %s: entry %d issue %d: a boot_splat has no outcome", p, i, j)
			}
			switch is.Outcome {
			case "", verdict.Fail, verdict.Panic, verdict.Hang, verdict.Crash:
			default:
				return nil, fmt.Errorf("expectations %s: entry %d issue %d: outcome %q is not a failure", p, i, j, is.Outcome)
			}
		}
	}
	return f, nil
}

// LoadDir loads every *.json file in dir.
func LoadDir(dir string) ([]*File, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var fs []*File
	for _, p := range paths {
		f, err := Load(p)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// Matches reports whether m selects k.
func (m Match) Matches(k *kernel.Kernel) bool {
	if m.SHA256 != "" && m.SHA256 != k.SHA256 {
		return false
	}
	if m.Package != "" {
		if ok, _ := path.Match(m.Package, k.Package); !ok {
			return false
		}
	}
	if m.Version != "" {
		if ok, _ := path.Match(m.Version, k.Version); !ok {
			return false
		}
	}
	if m.Release != "" {
		if ok, _ := regexp.MatchString(m.Release, k.Release()); !ok {
			return false
		}
	}
	if len(m.Config) > 0 {
		if k.ConfigPath == "" {
			return false
		}
		b, err := os.ReadFile(k.ConfigPath)
		if err != nil {
			return false
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(string(b), "\n") {
			lines[strings.TrimSpace(l)] = true
		}
		for _, c := range m.Config {
			if !lines[c] {
				return false
			}
		}
	}
	return true
}

// For returns the expectations that apply to k.
func For(files []*File, k *kernel.Kernel) []verdict.Expectation {
	var out []verdict.Expectation
	for _, f := range files {
		for _, e := range f.Entries {
			if !e.Match.Matches(k) {
				continue
			}
			for _, is := range e.Issues {
				out = append(out, verdict.Expectation{Spec: is.Spec, BootSplat: is.BootSplat, Reason: is.Reason, Outcome: is.Outcome})
			}
		}
	}
	return out
}
