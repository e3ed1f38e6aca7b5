package kbuild

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/zcsuite/zcsuite/harness/kconfig"
)

func (b *builder) verify() error {
	cfgPath := filepath.Join(b.dir, ".config")
	got, err := kconfig.FromFile(cfgPath)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	dropped, err := DroppedOptions(got, b.frags...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if len(dropped) == 0 {
		return nil
	}
	defined := definedOptions(b.tree)
	for i := range dropped {
		if defined != nil && !defined[strings.TrimPrefix(dropped[i].Option, "CONFIG_")] {
			dropped[i].Unknown = true
		}
	}
	return &ConfigError{Config: cfgPath, Dropped: dropped}
}

// DroppedOptions compares a configured .config with the fragments it was
// made from and returns every option a fragment sets to a value the
// .config does not have, sorted by option name. A later fragment overrides
// an earlier one, as merge_config.sh does; "# CONFIG_X is not set" in a
// fragment is met by an option that is not set or absent.
func DroppedOptions(got kconfig.Config, fragments ...string) ([]Dropped, error) {
	want := map[string]Dropped{}
	for _, f := range fragments {
		c, err := kconfig.FromFile(f)
		if err != nil {
			return nil, err
		}
		for opt, v := range c {
			want[opt] = Dropped{Option: opt, Want: v, Fragment: filepath.Base(f)}
		}
	}
	var out []Dropped
	for opt, d := range want {
		d.Got = got.Value(opt)
		if d.Got != d.Want {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Option < out[j].Option })
	return out, nil
}

var kconfigSymRE = regexp.MustCompile(`^\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$`)

// definedOptions returns the symbols (without CONFIG_) that the tree's
// Kconfig files define, or nil if they cannot be read. It is only called to
// explain a dropped option, so walking the tree is affordable.
func definedOptions(tree string) map[string]bool {
	syms := map[string]bool{}
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "Documentation" || name == "tools" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(d.Name(), "Kconfig") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if m := kconfigSymRE.FindStringSubmatch(sc.Text()); m != nil {
				syms[m[1]] = true
			}
		}
		return nil
	})
	if err != nil || len(syms) == 0 {
		return nil
	}
	return syms
}

// GitHead returns the commit and subject of tree's HEAD and whether tracked
// files differ from it, when tree is the top of a git work tree; empty
// strings otherwise.
func GitHead(ctx context.Context, tree string) (commit, subject string, dirty bool) {
	git := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "git", append([]string{"-C", tree}, args...)...).Output()
		return strings.TrimSpace(string(out)), err
	}
	top, err := git("rev-parse", "--show-toplevel")
	if err != nil {
		return "", "", false
	}
	if real, err := filepath.EvalSymlinks(top); err == nil {
		top = real
	}
	if real, err := filepath.EvalSymlinks(tree); err == nil && real != top {
		return "", "", false
	}
	out, err := git("log", "-1", "--format=%H%x00%s")
	if err != nil {
		return "", "", false
	}
	commit, subject, _ = strings.Cut(out, "\x00")
	st, err := git("status", "--porcelain", "--untracked-files=no")
	return commit, subject, err == nil && st != ""
}
