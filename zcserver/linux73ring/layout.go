package linux73ring

import "github.com/zcsuite/zcsuite/zcserver/ringplan"

// Layout is the shape of every queue's automatic setup.
type Layout struct {
	Payload  ringplan.Mode // where entries take their payload from
	ZeroCopy bool          // ADD_QUEUE with FUSE_URING_ZERO_COPY
}
