package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/zcsuite/zcsuite/vmimage/filesum"
)

// unpackRecord is the ".complete" file of an unpacked Debian kernel folder
// under the cache: the .deb files it was unpacked from and the image that
// boots, each with its sha256, so that every later use can check what it
// serves.
type unpackRecord struct {
	// Debs maps each .deb's file name to its sha256.
	Debs map[string]string `json:"debs"`
	// Image is the boot image's path inside the folder.
	Image       string `json:"image"`
	ImageSHA256 string `json:"image_sha256"`
}

const recordName = ".complete"

func readRecord(root string) (*unpackRecord, error) {
	b, err := os.ReadFile(filepath.Join(root, recordName))
	if err != nil {
		return nil, err
	}
	var rec unpackRecord
	if json.Unmarshal(b, &rec) != nil || rec.Image == "" || len(rec.ImageSHA256) != 64 {
		return nil, errors.New("no image sha256 recorded (unpacked by an older zcsuite, or the record is damaged)")
	}
	return &rec, nil
}

// unpackedKernel describes the kernel unpacked under root after checking
// that its image is still the one recorded when it was unpacked. The error
// wraps fs.ErrNotExist when root was never completely unpacked.
func unpackedKernel(root string) (*Kernel, error) {
	rec, err := readRecord(root)
	if err != nil {
		return nil, err
	}
	image := filepath.Join(root, rec.Image)
	if _, err := os.Stat(image); err != nil {
		return nil, fmt.Errorf("its image %s is missing", rec.Image)
	}
	k, err := FromPath(image)
	if err != nil {
		return nil, fmt.Errorf("its image %s: %v", rec.Image, err)
	}
	if k.SHA256 != rec.ImageSHA256 {
		return nil, fmt.Errorf("its image %s has sha256 %s, not the %s recorded when it was unpacked", rec.Image, k.SHA256[:16], rec.ImageSHA256[:16])
	}
	configs, _ := filepath.Glob(filepath.Join(filepath.Dir(image), "config"))
	if len(configs) == 0 {
		configs, _ = filepath.Glob(filepath.Join(root, "boot/config-*"))
	}
	if len(configs) == 1 {
		k.ConfigPath, k.ConfigSource = configs[0], "package"
	}
	return k, nil
}

// findImage returns the one boot image under root, relative to root.
func findImage(root string) (string, error) {
	images, _ := filepath.Glob(filepath.Join(root, "usr/lib/modules/*/vmlinuz"))
	if len(images) == 0 {
		images, _ = filepath.Glob(filepath.Join(root, "boot/vmlinuz-*"))
	}
	if len(images) != 1 {
		return "", fmt.Errorf("%d kernel images, want 1", len(images))
	}
	return filepath.Rel(root, images[0])
}

// unpack (re)creates root from the packages names at best's version (the
// first is the kernel package best itself, the others its companions): from
// the .deb files in the cache when their sha256 is the expected one, else
// downloaded again. It unpacks into a scratch folder beside root and moves
// it into place once complete, with its record. The caller holds the apt
// lock.
func (a *Apt) unpack(ctx context.Context, root string, best pkgInfo, names []string) error {
	parent := filepath.Dir(root)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	// Leftovers of an unpack that was killed.
	if old, _ := filepath.Glob(root + ".unpack-*"); len(old) > 0 {
		for _, o := range old {
			os.RemoveAll(o)
		}
	}
	want := map[string]string{best.Name: best.SHA256}
	if old, err := readRecord(root); err == nil {
		for file, sum := range old.Debs {
			name, _, _ := strings.Cut(file, "_")
			if want[name] == "" {
				want[name] = sum
			}
		}
	}
	for _, n := range names {
		if want[n] != "" {
			continue
		}
		// The local package lists know the archive's sha256 (no network).
		if infos, err := a.show(ctx, n); err == nil {
			for _, in := range infos {
				if in.Version == best.Version {
					want[n] = in.SHA256
				}
			}
		}
	}
	debs, err := a.cachedDebs(ctx, best.Version, want, names)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(root)+".unpack-")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	defer os.RemoveAll(tmp)
	rec := unpackRecord{Debs: map[string]string{}}
	for _, deb := range debs {
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
			return fmt.Errorf("%w: dpkg-deb -x %s: %v: %s", ErrFetch, deb, err, out)
		}
		sum, err := filesum.SHA256(deb)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrFetch, err)
		}
		rec.Debs[filepath.Base(deb)] = sum
	}
	if rec.Image, err = findImage(tmp); err != nil {
		return fmt.Errorf("%w: %s holds %v", ErrFetch, best.Name, err)
	}
	if rec.ImageSHA256, err = filesum.SHA256(filepath.Join(tmp, rec.Image)); err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	b, _ := json.MarshalIndent(rec, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, recordName), b, 0o644); err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	if err := os.Rename(tmp, root); err != nil {
		return fmt.Errorf("%w: %v", ErrFetch, err)
	}
	return nil
}

// cachedDebs returns the .deb files of names at version, in that order:
// each from the cache when its sha256 is want[name] (or nothing is known
// to check it against), otherwise downloaded again, with a line saying
// why. A download whose sha256 is not the expected one is an error.
func (a *Apt) cachedDebs(ctx context.Context, version string, want map[string]string, names []string) ([]string, error) {
	debDir := filepath.Join(a.Dir, "debs")
	paths := make([]string, len(names))
	var missing []string
	for i, n := range names {
		p := cachedDeb(debDir, n, version)
		if p == "" {
			missing = append(missing, n)
			continue
		}
		sum, err := filesum.SHA256(p)
		switch {
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			a.logf("%s cannot be read (%v); downloading it again", filepath.Base(p), err)
		case err != nil:
		case want[n] != "" && sum != want[n]:
			a.logf("%s has sha256 %s, not the archive's %s; downloading it again", filepath.Base(p), sum[:16], want[n][:min(16, len(want[n]))])
		default:
			paths[i] = p
			continue
		}
		os.Remove(p)
		missing = append(missing, n)
	}
	if len(missing) == 0 {
		return paths, nil
	}
	got, err := a.download(ctx, version, missing...)
	if err != nil {
		return nil, err
	}
	for j, n := range missing {
		if sum, err := filesum.SHA256(got[j]); err != nil || (want[n] != "" && sum != want[n]) {
			os.Remove(got[j])
			return nil, fmt.Errorf("%w: %s sha256 %s does not match the archive's %s (%v)", ErrFetch, got[j], sum, want[n], err)
		}
		for i := range names {
			if names[i] == n {
				paths[i] = got[j]
			}
		}
	}
	return paths, nil
}

// cachedDeb returns the cached .deb of name at version, or "".
func cachedDeb(debDir, name, version string) string {
	debs, _ := filepath.Glob(filepath.Join(debDir, name+"_*.deb"))
	for _, d := range debs {
		if strings.HasPrefix(filepath.Base(d), name+"_"+debEscape(version)+"_") {
			return d
		}
	}
	return ""
}
