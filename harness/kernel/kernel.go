package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/zcsuite/zcsuite/vmimage/filesum"
)

// Kernel is a resolved, bootable kernel and what is known about it.
type Kernel struct {
	// Spec is the argument the user gave.
	Spec string `json:"spec"`
	// Source is "debian" or "path" (or "tree" for a built tree).
	Source string `json:"source"`
	// Image is the host path of the bzImage/vmlinuz.
	Image string `json:"image"`
	// SHA256 is the image's sha256.
	SHA256 string `json:"sha256"`
	// ConfigPath is the kernel config used for checks ("" when none).
	ConfigPath string `json:"config_path,omitempty"`
	// ConfigSource says where ConfigPath came from: "package", "flag",
	// "ikconfig", "tree" or "".
	ConfigSource string `json:"config_source,omitempty"`
	// Package and Version identify a Debian package; DebSHA256 is the
	// sha256 of the .deb as the archive lists it.
	Package   string `json:"package,omitempty"`
	Version   string `json:"version,omitempty"`
	DebSHA256 string `json:"deb_sha256,omitempty"`
	Suite     string `json:"suite,omitempty"`
	// Banner is the version string embedded in the bzImage header.
	Banner string `json:"banner,omitempty"`
	// Tree is the kernel source tree a "tree" kernel was built from, and
	// Fragments the config fragments it was configured with.
	Tree      string   `json:"tree,omitempty"`
	Fragments []string `json:"config_fragments,omitempty"`
	// Commit and Subject name the tree's git HEAD when the tree is a git
	// work tree; Dirty says tracked files differed from it.
	Commit  string `json:"commit,omitempty"`
	Subject string `json:"subject,omitempty"`
	Dirty   bool   `json:"dirty,omitempty"`
	// SystemMap is the System.map of exactly this image, when known (a
	// tree build's): splat addresses are named with it (harness/ksym).
	SystemMap string `json:"system_map,omitempty"`
	// BaseTree and Patches: Tree is zcsuite's copy of BaseTree with these
	// patch and mbox files applied (-patch, -mbox).
	BaseTree string   `json:"base_tree,omitempty"`
	Patches  []string `json:"patches,omitempty"`
}

// Errors a caller maps to exit codes: the first group is bad input (the
// user named something that is not a kernel), the second is the kernel or
// the infrastructure failing.
var (
	ErrBadSpec       = errors.New("kernel: bad kernel argument")
	ErrNoSuchKernel  = errors.New("kernel: no such kernel file")
	ErrNotKernel     = errors.New("kernel: not a bootable x86 kernel image")
	ErrUnknownDebian = errors.New("kernel: no such Debian kernel package")
	ErrFetch         = errors.New("kernel: fetching the kernel failed")
)

// bzImage header facts (Documentation/arch/x86/boot.rst): the "HdrS" magic
// at 0x202 and the kernel_version pointer at 0x20e, relative to 0x200.
// setup_sects (0x1f1, 0 meaning 4) and syssize (0x1f4, in 16-byte units)
// give the size of the real-mode setup and of the protected-mode payload:
// a file shorter than their sum was cut short.
const (
	hdrSetupSectsOff = 0x1f1
	hdrSysSizeOff    = 0x1f4
	hdrMagicOff      = 0x202
	hdrVersionOff    = 0x20e
)

// FromPath checks that path is a bzImage and describes it.
func FromPath(path string) (*Kernel, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNoSuchKernel, path)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrNoSuchKernel, path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrNotKernel, path)
	}
	banner, err := readBanner(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotKernel, path, err)
	}
	if want, err := imageSize(f); err == nil && st.Size() < want {
		return nil, fmt.Errorf("%w: %s is cut short: %d bytes, its boot header says %d", ErrNotKernel, path, st.Size(), want)
	}
	sum, err := filesum.SHA256(path)
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(path)
	return &Kernel{Spec: path, Source: "path", Image: abs, SHA256: sum, Banner: banner}, nil
}

func readBanner(r io.ReaderAt) (string, error) {
	hdr := make([]byte, 0x220)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return "", errors.New("too short for a bzImage header")
	}
	if string(hdr[hdrMagicOff:hdrMagicOff+4]) != "HdrS" {
		return "", errors.New("no bzImage boot header (HdrS magic missing)")
	}
	ptr := int64(binary.LittleEndian.Uint16(hdr[hdrVersionOff:]))
	if ptr == 0 {
		return "", nil
	}
	buf := make([]byte, 256)
	n, _ := r.ReadAt(buf, ptr+0x200)
	buf = buf[:n]
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	return strings.TrimSpace(string(buf)), nil
}

// imageSize is the size a bzImage's boot header promises: the boot
// sector, the setup sectors and the payload.
func imageSize(r io.ReaderAt) (int64, error) {
	hdr := make([]byte, 0x200)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return 0, err
	}
	setup := int64(hdr[hdrSetupSectsOff])
	if setup == 0 {
		setup = 4
	}
	sys := int64(binary.LittleEndian.Uint32(hdr[hdrSysSizeOff:]))
	return (setup+1)*512 + sys*16, nil
}

// Release returns the kernel release from the banner ("7.3-cloud-amd64"
// from "7.3-cloud-amd64 (debian-kernel@...) #1 ...").
func (k *Kernel) Release() string {
	r, _, _ := strings.Cut(k.Banner, " ")
	return r
}
