package kconfig

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// The kernel compresses an x86 bzImage payload with "xz --x86 --lzma2": an
// xz stream whose single block runs the x86 branch-call-jump (BCJ) filter
// before LZMA2. The xz package reads LZMA2-only streams, so this file reads
// the container itself: it parses the block header, decodes the LZMA2 data
// with the lzma package and undoes the BCJ filter. Facts from the xz file
// format specification (tukaani.org, "The .xz File Format" 1.2.1): header
// layouts, filter IDs 0x04 (x86 BCJ) and 0x21 (LZMA2).

const (
	xzFilterX86   = 0x04
	xzFilterLZMA2 = 0x21
)

var errXZUnsupported = errors.New("unsupported xz stream")

// unxz decodes the first block of the xz stream at the start of data.
func unxz(data []byte) ([]byte, error) {
	// Stream header: magic (6), flags (2), CRC32 (4).
	if len(data) < 12+1 || !bytes.HasPrefix(data, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}) {
		return nil, fmt.Errorf("%w: no stream header", errXZUnsupported)
	}
	blk := data[12:]
	// Block header: size byte ((n+1)*4 bytes in all), flags, optional
	// compressed and uncompressed sizes, the filter flags, padding, CRC32.
	hsize := (int(blk[0]) + 1) * 4
	if blk[0] == 0 || len(blk) < hsize {
		return nil, fmt.Errorf("%w: no block", errXZUnsupported)
	}
	h := bytes.NewReader(blk[1 : hsize-4])
	flags, _ := h.ReadByte()
	nfilters := int(flags&0x03) + 1
	if flags&0x40 != 0 {
		if _, err := binary.ReadUvarint(h); err != nil {
			return nil, fmt.Errorf("%w: block header: %v", errXZUnsupported, err)
		}
	}
	if flags&0x80 != 0 {
		if _, err := binary.ReadUvarint(h); err != nil {
			return nil, fmt.Errorf("%w: block header: %v", errXZUnsupported, err)
		}
	}
	x86 := false
	var dictProp byte
	for i := 0; i < nfilters; i++ {
		id, err1 := binary.ReadUvarint(h)
		psize, err2 := binary.ReadUvarint(h)
		if err1 != nil || err2 != nil || psize > 16 {
			return nil, fmt.Errorf("%w: filter flags", errXZUnsupported)
		}
		props := make([]byte, psize)
		if _, err := io.ReadFull(h, props); err != nil {
			return nil, fmt.Errorf("%w: filter flags: %v", errXZUnsupported, err)
		}
		last := i == nfilters-1
		switch {
		case id == xzFilterX86 && !last && psize == 0:
			x86 = true
		case id == xzFilterLZMA2 && last && psize == 1:
			dictProp = props[0]
		default:
			return nil, fmt.Errorf("%w: filter %#x (props %d) at position %d", errXZUnsupported, id, psize, i)
		}
	}
	if dictProp > 40 {
		return nil, fmt.Errorf("%w: LZMA2 dictionary property %d", errXZUnsupported, dictProp)
	}
	dict := 1 << 31 // property 40 means 4 GiB - 1; more than a kernel needs
	if dictProp < 40 {
		dict = (2 | int(dictProp&1)) << (dictProp/2 + 11)
	}
	r, err := lzma.Reader2Config{DictCap: max(dict, lzma.MinDictCap)}.NewReader2(bytes.NewReader(blk[hsize:]))
	if err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	var out bytes.Buffer
	if _, err := io.Copy(&out, io.LimitReader(r, maxPayload)); err != nil && out.Len() == 0 {
		return nil, fmt.Errorf("xz: %w", err)
	}
	b := out.Bytes()
	if x86 {
		undoX86BCJ(b)
	}
	return b, nil
}

// undoX86BCJ reverses the x86 BCJ filter in place over a whole stream that
// starts at offset 0.
//
// The encoder turned the 32-bit displacement after a CALL (E8) or JMP (E9)
// opcode from relative to absolute, so that repeated calls to one function
// compress well. It converts only displacements whose top byte is 00 or FF
// (a near target), and to avoid mangling data that merely contains E8/E9
// bytes it skips an opcode byte according to a 3-bit history of the E8/E9
// bytes seen in the 3 bytes before it. Decoding must make the same choices,
// so the same history is kept here.
func undoX86BCJ(b []byte) {
	near := func(c byte) bool { return c == 0x00 || c == 0xff }
	// For each history value: whether a conversion is possible at all, and
	// which byte of the displacement (counted from its top) the history
	// points at.
	allowed := [8]bool{true, true, true, false, true, false, false, false}
	depth := [8]uint{0, 1, 2, 2, 3, 3, 3, 3}

	var history uint32 // bit k set: an unconverted E8/E9 stood k+1 bytes before the last one
	lastOp := -1 << 30 // position of the last E8/E9 byte looked at
	for i := 0; i+4 < len(b); {
		if b[i]&0xfe != 0xe8 {
			i++
			continue
		}
		gap := i - lastOp
		if gap > 3 {
			history = 0
		} else {
			history = (history << (gap - 1)) & 7
			if history != 0 && (!allowed[history] || near(b[i+4-int(depth[history])])) {
				lastOp = i
				history = (history<<1)&7 | 1
				i++
				continue
			}
		}
		lastOp = i
		if !near(b[i+4]) {
			history = (history<<1)&7 | 1
			i++
			continue
		}
		v := binary.LittleEndian.Uint32(b[i+1:])
		var rel uint32
		for {
			rel = v - uint32(i+5)
			if history == 0 {
				break
			}
			shift := depth[history] * 8
			if !near(byte(rel >> (24 - shift))) {
				break
			}
			v = rel ^ (1<<(32-shift) - 1)
		}
		// The top byte is re-derived from bit 24: 00 or FF.
		rel = rel&0x01ffffff | -(rel>>24&1)<<24
		binary.LittleEndian.PutUint32(b[i+1:], rel)
		i += 5
	}
}
