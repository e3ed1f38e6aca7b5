package protocol

import (
	"fmt"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// MinKernelMinor is the oldest protocol minor we accept at INIT: 7.36
// introduced FUSE_INIT_EXT/flags2 and every op-in size in the table is the
// current one since then.
const MinKernelMinor = 36

// DefaultMaxWrite is the max_write we reply when Config.MaxWrite is 0.
const DefaultMaxWrite = 128 << 10

// MaxMaxWrite bounds Config.MaxWrite: fuse_init_out.max_pages is clamped by
// the kernel to fs.fuse.max_pages_limit (default 256 pages, ABI doc §1.2).
const MaxMaxWrite = fuseabi.FUSE_DEFAULT_MAX_PAGES_LIMIT * 4096

// InitInfo records one INIT exchange (fuseabi.InitInfo).
type InitInfo = fuseabi.InitInfo

// negotiation holds what we want from INIT; it is derived from Config.
type negotiation struct {
	maxWrite    uint32
	maxPages    uint16 // what we ask for with FUSE_MAX_PAGES
	pageSize    uint32
	ring        bool
	readdirPlus bool
	abortError  bool
}

// wantFlags is the INIT flag set we ask for (intersected with the offer).
func (n *negotiation) wantFlags() uint64 {
	f := fuseabi.FUSE_ASYNC_READ | fuseabi.FUSE_BIG_WRITES | fuseabi.FUSE_PARALLEL_DIROPS |
		fuseabi.FUSE_MAX_PAGES | fuseabi.FUSE_INIT_EXT
	if n.readdirPlus {
		f |= fuseabi.FUSE_DO_READDIRPLUS
	}
	if n.ring {
		f |= fuseabi.FUSE_OVER_IO_URING
	}
	if n.abortError {
		f |= fuseabi.FUSE_ABORT_ERROR
	}
	return f
}

// negotiate computes the INIT reply for in. compat is true when the
// kernel sent the 16-byte pre-7.36 struct (no flags2).
func (n *negotiation) negotiate(in fuseabi.InitIn, compat bool) (fuseabi.InitOut, InitInfo, error) {
	info := InitInfo{
		KernelMajor: in.Major, KernelMinor: in.Minor,
		KernelMaxReadahead: in.MaxReadahead, KernelFlags: in.Flags,
	}
	if !compat && uint64(in.Flags)&fuseabi.FUSE_INIT_EXT != 0 {
		info.KernelFlags2 = in.Flags2
	}
	if in.Major != fuseabi.FUSE_KERNEL_VERSION {
		return fuseabi.InitOut{}, info, fmt.Errorf("kernel protocol major %d, we speak %d", in.Major, fuseabi.FUSE_KERNEL_VERSION)
	}
	if in.Minor < MinKernelMinor {
		return fuseabi.InitOut{}, info, fmt.Errorf("kernel protocol minor %d, need at least %d", in.Minor, MinKernelMinor)
	}
	flags := n.wantFlags() & info.KernelOffered()
	info.Major = fuseabi.FUSE_KERNEL_VERSION
	info.Minor = min(in.Minor, fuseabi.FUSE_KERNEL_MINOR_VERSION)
	info.Flags = flags
	info.MaxReadahead = in.MaxReadahead
	info.MaxWrite = n.maxWrite
	info.MaxBackground = 64
	info.CongestionThreshold = 48
	info.TimeGran = 1
	info.EffectiveMaxPages = fuseabi.FUSE_DEFAULT_MAX_PAGES_PER_REQ
	if flags&fuseabi.FUSE_MAX_PAGES != 0 {
		info.MaxPages = n.maxPages
		info.EffectiveMaxPages = uint32(n.maxPages)
	}
	info.MaxPayloadSz = max(fuseabi.FUSE_MIN_READ_BUFFER, max(4096, n.maxWrite), info.EffectiveMaxPages*n.pageSize)
	info.Ring = flags&fuseabi.FUSE_OVER_IO_URING != 0

	f1, f2 := fuseabi.SplitInitFlags(flags)
	out := fuseabi.InitOut{
		Major:               info.Major,
		Minor:               info.Minor,
		MaxReadahead:        info.MaxReadahead,
		Flags:               f1,
		Flags2:              f2,
		MaxBackground:       info.MaxBackground,
		CongestionThreshold: info.CongestionThreshold,
		MaxWrite:            info.MaxWrite,
		TimeGran:            info.TimeGran,
		MaxPages:            info.MaxPages,
	}
	return out, info, nil
}
