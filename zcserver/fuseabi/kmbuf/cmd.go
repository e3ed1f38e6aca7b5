package kmbuf

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unsafe"
)

// CmdReq is either layout of struct fuse_uring_cmd_req.
type CmdReq interface{ CmdReqV2 | CmdReqV3 }

// EncodeCmd writes c into an SQE's command area cmd (normally the 80 bytes
// at SQE offset 48) and zeroes every byte after the 24 of the struct and
// the struct's own padding, so a reused slot never carries stale bytes. cmd
// must be at least SizeofCmdReq long.
func EncodeCmd[T CmdReq](cmd []byte, c *T) error {
	if len(cmd) < SizeofCmdReq {
		return fmt.Errorf("kmbuf: command area of %d bytes, need %d", len(cmd), SizeofCmdReq)
	}
	copy(cmd, unsafe.Slice((*byte)(unsafe.Pointer(c)), SizeofCmdReq))
	clear(cmd[22:]) // padding[2] and the unused tail
	return nil
}

// DecodeCmd reads a T from the start of a command area.
func DecodeCmd[T CmdReq](cmd []byte) (T, error) {
	var c T
	if len(cmd) < SizeofCmdReq {
		return c, fmt.Errorf("kmbuf: command area of %d bytes, need %d", len(cmd), SizeofCmdReq)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&c)), SizeofCmdReq), cmd)
	return c, nil
}

// bool8 is a C bool as the kernel should receive it.
func bool8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// RegisterV2 builds a v2 REGISTER for qid in mode m with queue_depth qd.
func RegisterV2(qid uint16, m Mode, qd uint16) CmdReqV2 {
	return CmdReqV2{Qid: qid, UseBufring: bool8(m.BufRing), ZeroCopy: bool8(m.ZeroCopy), QueueDepth: qd}
}

// RegisterV3 builds a v3/v4 REGISTER for qid in mode m with queue_depth qd.
func RegisterV3(qid uint16, m Mode, qd uint16) CmdReqV3 {
	var f uint16
	if m.BufRing {
		f |= FUSE_URING_BUF_RING
	}
	if m.ZeroCopy {
		f |= FUSE_URING_ZERO_COPY
	}
	return CmdReqV3{Qid: qid, InitFlags: f, QueueDepth: qd}
}

// CommitAndFetchV2 builds a v2 COMMIT_AND_FETCH for the request with
// commitID on qid. The bytes equal CommitAndFetchV3's: the init area is
// not read and left zero.
func CommitAndFetchV2(qid uint16, commitID uint64) CmdReqV2 {
	return CmdReqV2{Qid: qid, CommitID: commitID}
}

// CommitAndFetchV3 builds a v3/v4 COMMIT_AND_FETCH.
func CommitAndFetchV3(qid uint16, commitID uint64) CmdReqV3 {
	return CmdReqV3{Qid: qid, CommitID: commitID}
}

// Revision is a revision of the series.
type Revision uint8

// Revisions of the series.
const (
	V2 Revision = 2
	V3 Revision = 3
	V4 Revision = 4
)

func (r Revision) String() string { return fmt.Sprintf("v%d", uint8(r)) }

// Init is what a REGISTER's init area says, read the way one revision's
// kernel reads it.
type Init struct {
	Mode       Mode
	QueueDepth uint16
	// NonBoolByte is set when a v2 kernel would load a bool from a byte
	// other than 0 or 1 (undefined behaviour in C: true in practice, a
	// UBSAN splat on UBSAN kernels; ABI doc §1.1).
	NonBoolByte bool
}

// ReadInit decodes bytes 18..21 of a command area the way a kernel of
// revision rev does (ABI doc §1.1). It is the tool for reasoning about
// cross-talk between a server of one revision and a kernel of another.
func ReadInit(rev Revision, cmd []byte) (Init, error) {
	if len(cmd) < SizeofCmdReq {
		return Init{}, fmt.Errorf("kmbuf: command area of %d bytes, need %d", len(cmd), SizeofCmdReq)
	}
	in := Init{QueueDepth: binary.NativeEndian.Uint16(cmd[20:22])}
	switch rev {
	case V2:
		in.Mode = Mode{BufRing: cmd[18] != 0, ZeroCopy: cmd[19] != 0}
		in.NonBoolByte = cmd[18] > 1 || cmd[19] > 1
	case V3, V4:
		f := binary.NativeEndian.Uint16(cmd[18:20])
		in.Mode = Mode{BufRing: f&FUSE_URING_BUF_RING != 0, ZeroCopy: f&FUSE_URING_ZERO_COPY != 0}
	default:
		return Init{}, fmt.Errorf("kmbuf: unknown revision %d", uint8(rev))
	}
	return in, nil
}

// Profile is one revision of the series as a server must speak it. The
// wire layout is chosen by Layout (V2, or V3 for v3 and v4); the other
// fields are behaviour that differs without a layout change (ABI doc
// §1.2).
type Profile struct {
	// Name is the --abi spelling: "kmbuf-v2", "kmbuf-v3", "kmbuf-v4".
	Name     string
	Revision Revision
	// Layout is the revision whose fuse_uring_cmd_req layout this
	// revision uses: V2 (bools) or V3 (flags word).
	Layout Revision
	// WarnsOnUnregisterFailure: fuse_uring_req_end wraps the page-slot
	// unregister in WARN_ON_ONCE (v2, v3), so a slot a server tampered
	// with gives a kernel WARN (ABI doc §5 f).
	WarnsOnUnregisterFailure bool
	// WarnsOnHeadersPrep: a failed header-slot lookup WARNs in
	// fuse_uring_headers_prep (v2, v3; v4 is silent; ABI doc §5 d).
	WarnsOnHeadersPrep bool
}

// The revisions as profiles.
var (
	ProfileV2 = Profile{Name: "kmbuf-v2", Revision: V2, Layout: V2, WarnsOnUnregisterFailure: true, WarnsOnHeadersPrep: true}
	ProfileV3 = Profile{Name: "kmbuf-v3", Revision: V3, Layout: V3, WarnsOnUnregisterFailure: true, WarnsOnHeadersPrep: true}
	ProfileV4 = Profile{Name: "kmbuf-v4", Revision: V4, Layout: V3}
)

// Profiles lists every revision.
var Profiles = []Profile{ProfileV2, ProfileV3, ProfileV4}

// ProfileNamed returns the profile with the given Name.
func ProfileNamed(name string) (Profile, error) {
	var names []string
	for _, p := range Profiles {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Profile{}, fmt.Errorf("kmbuf: unknown profile %q (want one of %s)", name, strings.Join(names, ", "))
}

// ProfileFor returns the profile of revision rev.
func ProfileFor(rev Revision) (Profile, error) {
	for _, p := range Profiles {
		if p.Revision == rev {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("kmbuf: unknown revision %d", uint8(rev))
}

func (p Profile) String() string { return p.Name }

// RegisterCmd returns the 24 command bytes of a REGISTER for qid in mode m
// with queue_depth qd, in p's layout.
func (p Profile) RegisterCmd(qid uint16, m Mode, qd uint16) [SizeofCmdReq]byte {
	var b [SizeofCmdReq]byte
	if p.Layout == V2 {
		c := RegisterV2(qid, m, qd)
		EncodeCmd(b[:], &c)
	} else {
		c := RegisterV3(qid, m, qd)
		EncodeCmd(b[:], &c)
	}
	return b
}

// CommitCmd returns the 24 command bytes of a COMMIT_AND_FETCH (the same
// in every layout).
func (p Profile) CommitCmd(qid uint16, commitID uint64) [SizeofCmdReq]byte {
	var b [SizeofCmdReq]byte
	c := CommitAndFetchV3(qid, commitID)
	EncodeCmd(b[:], &c)
	return b
}

// ReadInit decodes a command area the way p's kernel does.
func (p Profile) ReadInit(cmd []byte) (Init, error) { return ReadInit(p.Revision, cmd) }
