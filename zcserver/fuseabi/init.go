package fuseabi

import "fmt"

// InitInfo records one INIT exchange: exactly what the kernel offered and
// what we replied, plus the derived ring payload size.
type InitInfo struct {
	// Offered by the kernel (fuse_init_in).
	KernelMajor        uint32
	KernelMinor        uint32
	KernelMaxReadahead uint32
	KernelFlags        uint32 // init_in.flags (bits 0..31)
	KernelFlags2       uint32 // init_in.flags2 (bits 32..63); 0 if not sent

	// Replied by us (fuse_init_out).
	Major               uint32
	Minor               uint32 // min(kernel, ours)
	Flags               uint64 // flags | flags2<<32 as replied
	MaxReadahead        uint32
	MaxWrite            uint32
	MaxPages            uint16
	MaxBackground       uint16
	CongestionThreshold uint16
	TimeGran            uint32

	// Derived.
	// EffectiveMaxPages is max_pages as the kernel will use it: MaxPages
	// when FUSE_MAX_PAGES was replied (assuming fs.fuse.max_pages_limit is
	// at least MaxPages, true for the default 256), 32 otherwise.
	EffectiveMaxPages uint32
	// MaxPayloadSz is max(8192, max(4096, max_write), max_pages*PAGE_SIZE),
	// the ring payload size the kernel computes (linux73 ABI doc §1.2).
	MaxPayloadSz uint32
	// Ring is true when FUSE_OVER_IO_URING was replied.
	Ring bool
}

// KernelOffered returns the kernel's flags and flags2 as one word.
func (i *InitInfo) KernelOffered() uint64 {
	return InitFlags(i.KernelFlags, i.KernelFlags2)
}

// OffersIOURing reports flags2 bit 9 (FUSE_OVER_IO_URING) in the offer:
// fuse.enable_uring is on in a kernel with FUSE io_uring.
func (i *InitInfo) OffersIOURing() bool {
	return i.KernelOffered()&FUSE_OVER_IO_URING != 0
}

// OffersBufPool reports flags2 bit 11 (FUSE_HAS_IO_URING_BUFPOOL): the 7.46
// bufpool and zero-copy ABI (linux73 ABI doc §6).
func (i *InitInfo) OffersBufPool() bool {
	return i.KernelOffered()&FUSE_HAS_IO_URING_BUFPOOL != 0
}

// String renders the exchange on one line with flag names.
func (i *InitInfo) String() string {
	return fmt.Sprintf("kernel %d.%d flags=%#x flags2=%#x max_readahead=%d [%s]; reply %d.%d flags=%#x [%s] max_write=%d max_pages=%d max_payload_sz=%d ring=%v",
		i.KernelMajor, i.KernelMinor, i.KernelFlags, i.KernelFlags2, i.KernelMaxReadahead,
		FormatFlags(i.KernelOffered(), InitFlagNames),
		i.Major, i.Minor, i.Flags, FormatFlags(i.Flags, InitFlagNames),
		i.MaxWrite, i.MaxPages, i.MaxPayloadSz, i.Ring)
}
