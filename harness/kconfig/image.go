package kconfig

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// ErrNoIKConfig means the kernel image was decompressed and holds no
// embedded config: the kernel was built without CONFIG_IKCONFIG=y.
var ErrNoIKConfig = errors.New("kconfig: kernel image has no embedded config (CONFIG_IKCONFIG=y not set)")

// ErrNoPayload means no compressed kernel could be found or decompressed in
// the file: it is not a kernel image this package can read.
var ErrNoPayload = errors.New("kconfig: no kernel payload found (not a bzImage/vmlinuz, or an unsupported compression)")

// The markers kernel/configs.c puts around the gzip-compressed .config.
var (
	ikcfgStart = []byte("IKCFG_ST")
	ikcfgEnd   = []byte("IKCFG_ED")
)

// maxPayload bounds a decompressed kernel, so a corrupt stream cannot
// exhaust memory.
const maxPayload = 1 << 30

// minPayload is the least a decompressed stream must hold to be taken for
// the kernel (a stray magic number in the image decompresses to little or
// nothing).
const minPayload = 1 << 20

// codec is one compression format a bzImage payload may use.
type codec struct {
	name  string
	magic []byte
	// decode returns what it can decompress from the start of data: a
	// stream is kept up to its first error, since a payload is often
	// followed by bytes that are not part of it.
	decode func(data []byte) []byte
}

var codecs = []codec{
	{"gzip", []byte{0x1f, 0x8b, 0x08}, stream(func(r io.Reader) (io.Reader, error) {
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		z.Multistream(false)
		return z, nil
	})},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, func(data []byte) []byte {
		out, _ := unxz(data)
		return out
	}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}, stream(func(r io.Reader) (io.Reader, error) {
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<31))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	})},
	{"bzip2", []byte{'B', 'Z', 'h'}, stream(func(r io.Reader) (io.Reader, error) { return bzip2.NewReader(r), nil })},
	// The kernel's lz4 payload uses the legacy frame format.
	{"lz4", []byte{0x02, 0x21, 0x4c, 0x18}, stream(func(r io.Reader) (io.Reader, error) { return lz4.NewReader(r), nil })},
}

// stream makes a codec's decode from a decompressing reader.
func stream(open func(io.Reader) (io.Reader, error)) func([]byte) []byte {
	return func(data []byte) []byte {
		r, err := open(bytes.NewReader(data))
		if err != nil {
			return nil
		}
		if c, ok := r.(io.Closer); ok {
			defer c.Close()
		}
		var out bytes.Buffer
		_, _ = io.Copy(&out, io.LimitReader(r, maxPayload))
		return out.Bytes()
	}
}

// FromKernelImage returns the config embedded in a kernel image: a bzImage
// or vmlinuz whose payload is gzip, xz, zstd, bzip2 or lz4 compressed, or an
// uncompressed vmlinux. It returns ErrNoIKConfig when the kernel was
// decompressed but carries no config, and ErrNoPayload when no kernel could
// be decompressed from the file.
func FromKernelImage(path string) (Config, error) {
	img, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kconfig: %w", err)
	}
	c, err := fromImage(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func fromImage(img []byte) (Config, error) {
	// An uncompressed vmlinux (or a config marker in plain sight).
	if c, err := fromPayload(img); !errors.Is(err, ErrNoIKConfig) {
		return c, err
	}
	sawPayload := false
	for _, cd := range codecs {
		for off := 0; ; {
			i := bytes.Index(img[off:], cd.magic)
			if i < 0 {
				break
			}
			off += i
			payload := cd.decode(img[off:])
			off += len(cd.magic)
			if len(payload) < minPayload {
				continue
			}
			sawPayload = true
			c, err := fromPayload(payload)
			if errors.Is(err, ErrNoIKConfig) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s payload: %w", cd.name, err)
			}
			return c, nil
		}
	}
	if !sawPayload {
		return nil, ErrNoPayload
	}
	return nil, ErrNoIKConfig
}

// fromPayload extracts the config between the IKCFG markers of a
// decompressed kernel.
func fromPayload(p []byte) (Config, error) {
	i := bytes.Index(p, ikcfgStart)
	if i < 0 {
		return nil, ErrNoIKConfig
	}
	body := p[i+len(ikcfgStart):]
	if j := bytes.Index(body, ikcfgEnd); j >= 0 {
		body = body[:j]
	}
	z, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("kconfig: embedded config: %w", err)
	}
	z.Multistream(false)
	c, err := Parse(z)
	if err != nil {
		return nil, fmt.Errorf("kconfig: embedded config: %w", err)
	}
	return c, nil
}
