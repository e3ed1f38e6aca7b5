package protocol

import (
	"fmt"
	"sync"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/linux73"
)

// opFunc handles one request. It may assume that req.OpIn holds at least
// opInSize bytes and that out holds at least outSize bytes.
type opFunc func(h *Handler, req *Request, out []byte) Reply

// opInfo is one row of the opcode table.
type opInfo struct {
	op       fuseabi.Opcode
	name     string
	opInSize int  // bytes of the first in-argument
	opInRest bool // the op-in runs to the end of the request (INIT's variable struct)
	outSize  int  // fixed out-argument size, 0 when variable or none
	noReply  bool // the kernel expects no reply
	handle   opFunc
}

// opRows lists every opcode the server answers. Sizes come from
// fuseabi (uapi fuse.h). Opcodes not listed get ENOSYS.
func opRows() []opInfo {
	return []opInfo{
		{op: fuseabi.FUSE_INIT, opInSize: fuseabi.SizeofInitInCompat, opInRest: true, outSize: fuseabi.SizeofInitOut, handle: (*Handler).opInit},
		{op: fuseabi.FUSE_DESTROY, handle: (*Handler).opOK},
		{op: fuseabi.FUSE_LOOKUP, outSize: fuseabi.SizeofEntryOut, handle: (*Handler).opLookup},
		{op: fuseabi.FUSE_FORGET, opInSize: fuseabi.SizeofForgetIn, noReply: true, handle: (*Handler).opForget},
		{op: fuseabi.FUSE_BATCH_FORGET, opInSize: fuseabi.SizeofBatchForgetIn, noReply: true, handle: (*Handler).opBatchForget},
		{op: fuseabi.FUSE_GETATTR, opInSize: fuseabi.SizeofGetattrIn, outSize: fuseabi.SizeofAttrOut, handle: (*Handler).opGetattr},
		{op: fuseabi.FUSE_SETATTR, opInSize: fuseabi.SizeofSetattrIn, outSize: fuseabi.SizeofAttrOut, handle: (*Handler).opSetattr},
		{op: fuseabi.FUSE_ACCESS, opInSize: fuseabi.SizeofAccessIn, handle: (*Handler).opAccess},
		{op: fuseabi.FUSE_MKNOD, opInSize: fuseabi.SizeofMknodIn, outSize: fuseabi.SizeofEntryOut, handle: (*Handler).opMknod},
		{op: fuseabi.FUSE_MKDIR, opInSize: fuseabi.SizeofMkdirIn, outSize: fuseabi.SizeofEntryOut, handle: (*Handler).opMkdir},
		{op: fuseabi.FUSE_UNLINK, handle: (*Handler).opUnlink},
		{op: fuseabi.FUSE_RMDIR, handle: (*Handler).opRmdir},
		{op: fuseabi.FUSE_RENAME, opInSize: fuseabi.SizeofRenameIn, handle: (*Handler).opRename},
		{op: fuseabi.FUSE_RENAME2, opInSize: fuseabi.SizeofRename2In, handle: (*Handler).opRename2},
		{op: fuseabi.FUSE_OPEN, opInSize: fuseabi.SizeofOpenIn, outSize: fuseabi.SizeofOpenOut, handle: (*Handler).opOpen},
		{op: fuseabi.FUSE_CREATE, opInSize: fuseabi.SizeofCreateIn, outSize: fuseabi.SizeofEntryOut + fuseabi.SizeofOpenOut, handle: (*Handler).opCreate},
		{op: fuseabi.FUSE_READ, opInSize: fuseabi.SizeofReadIn, handle: (*Handler).opRead},
		{op: fuseabi.FUSE_WRITE, opInSize: fuseabi.SizeofWriteIn, outSize: fuseabi.SizeofWriteOut, handle: (*Handler).opWrite},
		{op: fuseabi.FUSE_FLUSH, opInSize: fuseabi.SizeofFlushIn, handle: (*Handler).opOK},
		{op: fuseabi.FUSE_FSYNC, opInSize: fuseabi.SizeofFsyncIn, handle: (*Handler).opOK},
		{op: fuseabi.FUSE_RELEASE, opInSize: fuseabi.SizeofReleaseIn, handle: (*Handler).opRelease},
		{op: fuseabi.FUSE_OPENDIR, opInSize: fuseabi.SizeofOpenIn, outSize: fuseabi.SizeofOpenOut, handle: (*Handler).opOpendir},
		{op: fuseabi.FUSE_READDIR, opInSize: fuseabi.SizeofReadIn, handle: (*Handler).opReaddir},
		{op: fuseabi.FUSE_READDIRPLUS, opInSize: fuseabi.SizeofReadIn, handle: (*Handler).opReaddirplus},
		{op: fuseabi.FUSE_RELEASEDIR, opInSize: fuseabi.SizeofReleaseIn, handle: (*Handler).opRelease},
		{op: fuseabi.FUSE_FSYNCDIR, opInSize: fuseabi.SizeofFsyncIn, handle: (*Handler).opOK},
		{op: fuseabi.FUSE_STATFS, outSize: fuseabi.SizeofStatfsOut, handle: (*Handler).opStatfs},
		{op: fuseabi.FUSE_INTERRUPT, opInSize: fuseabi.SizeofInterruptIn, noReply: true, handle: (*Handler).opNoReply},
		{op: fuseabi.FUSE_NOTIFY_REPLY, noReply: true, handle: (*Handler).opNoReply},
		// Answered ENOSYS on purpose: the kernel then stops asking and
		// falls back (poll returns the default mask).
		{op: fuseabi.FUSE_POLL, opInSize: fuseabi.SizeofPollIn, handle: (*Handler).opENOSYS},
	}
}

// table is the dense opcode table, built and checked once.
var table = sync.OnceValues(func() (*[fuseabi.OpcodeSlots]*opInfo, error) {
	var t [fuseabi.OpcodeSlots]*opInfo
	for _, row := range opRows() {
		row.name = row.op.String()
		if err := checkRow(&row); err != nil {
			return nil, err
		}
		if t[row.op] != nil {
			return nil, fmt.Errorf("protocol: opcode %s listed twice", row.op)
		}
		t[row.op] = &row
	}
	return &t, nil
})

// checkRow validates one table row against the buffers every transport
// has: the ring's 128-byte op_in area and the minimum payload buffer.
func checkRow(r *opInfo) error {
	switch {
	case !r.op.Known() || int(r.op) >= fuseabi.OpcodeSlots:
		return fmt.Errorf("protocol: opcode %d has no name", r.op)
	case r.handle == nil:
		return fmt.Errorf("protocol: %s has no handler", r.name)
	case r.opInSize > linux73.FUSE_URING_OP_IN_OUT_SZ:
		return fmt.Errorf("protocol: %s op-in of %d bytes exceeds the ring's %d-byte op_in area", r.name, r.opInSize, linux73.FUSE_URING_OP_IN_OUT_SZ)
	case r.outSize > fuseabi.FUSE_MIN_READ_BUFFER:
		return fmt.Errorf("protocol: %s reply of %d bytes exceeds the minimum payload buffer", r.name, r.outSize)
	case r.noReply && r.outSize != 0:
		return fmt.Errorf("protocol: %s has no reply but a reply size", r.name)
	}
	return nil
}

// lookupOp returns the table row of op, or nil.
func lookupOp(op fuseabi.Opcode) *opInfo {
	t, err := table()
	if err != nil || int(op) >= len(t) {
		return nil
	}
	return t[op]
}

// Implemented reports whether the server answers op with something other
// than ENOSYS.
func Implemented(op fuseabi.Opcode) bool {
	info := lookupOp(op)
	return info != nil && op != fuseabi.FUSE_POLL
}

// OpInSize returns the op-in size the table expects for op (0 for opcodes
// without one or unknown opcodes). Ring transports may use it to size
// diagnostics; Dispatch does the checking.
func OpInSize(op fuseabi.Opcode) int {
	if info := lookupOp(op); info != nil {
		return info.opInSize
	}
	return 0
}
