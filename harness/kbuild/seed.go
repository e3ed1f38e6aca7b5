package kbuild

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/zcsuite/zcsuite/harness/cachelock"
)

// Seed gives tree (a copy of from at another path, e.g. a hard-linked
// copy) a build directory for variant that starts as a copy of from's, so
// its first build is incremental instead of from scratch. Kbuild records
// the source tree's absolute path (and host tools the build directory's)
// in its command and dependency files; the copy's are rewritten to the new
// paths with their times kept, and the
// stamp gets the new tree's identity. Nothing happens when tree already
// has a build directory or from has none.
func Seed(ctx context.Context, cacheDir, from, tree, variant string, logf func(string, ...any)) error {
	src, dst := Dir(cacheDir, from, variant), Dir(cacheDir, tree, variant)
	if _, err := os.Stat(filepath.Join(dst, ".config")); err == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(src, "arch/x86/boot/bzImage")); err != nil {
		return nil
	}
	unlock, err := cachelock.Lock(ctx, filepath.Join(src, ".zcsuite-lock"), logf)
	if err != nil {
		return err
	}
	defer unlock()
	tmp := dst + ".seeding"
	os.RemoveAll(tmp)
	if logf != nil {
		logf("seeding %s from %s", dst, src)
	}
	if out, err := exec.CommandContext(ctx, "cp", "-a", src, tmp).CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("kbuild: seeding %s: %v: %s", dst, err, bytes.TrimSpace(out))
	}
	os.Remove(filepath.Join(tmp, ".zcsuite-lock"))
	// The tree's path, and the build directory's own (host tools such as
	// objtool record it in their dependency files).
	r := strings.NewReplacer(from, tree, src, dst)
	err = filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if t, err := os.Readlink(p); err == nil && strings.HasPrefix(t, from) {
				os.Remove(p)
				return os.Symlink(tree+strings.TrimPrefix(t, from), p)
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(p, ".o") || strings.HasSuffix(p, ".a") {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > 4<<20 {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(data, []byte(from)) && !bytes.Contains(data, []byte(src)) || bytes.IndexByte(data, 0) >= 0 {
			return err
		}
		if err := os.WriteFile(p, []byte(r.Replace(string(data))), info.Mode().Perm()); err != nil {
			return err
		}
		return os.Chtimes(p, info.ModTime(), info.ModTime())
	})
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("kbuild: seeding %s: %w", dst, err)
	}
	b := &builder{dir: tmp}
	if s, ok := b.readStamp(); ok {
		s.TreeID = treeID(tree)
		b.writeStamp(s)
	}
	os.RemoveAll(dst)
	return os.Rename(tmp, dst)
}
