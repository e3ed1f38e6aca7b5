package guest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
)

// The feature gate: before any spec, one throwaway mount reads the
// kernel's FUSE_INIT offer. A kernel from before FUSE-over-io_uring (no
// FUSE_OVER_IO_URING in flags2 on a release before 6.14) cannot be tested
// at all: every ring spec would fail to mount for that one reason. The
// guest then tells the host (vmevent.FeatureAbsent, which makes the run
// untestable, exit 125) and skips the whole suite. On a release that
// should have the feature, its absence is a bug: the gate stays open and
// the env and init specs fail, as they should.
var _ = BeforeSuite(func(ctx SpecContext) {
	if !inVM {
		return
	}
	why := featureAbsent(ctx)
	if why == "" {
		return
	}
	if w := eventWriter(); w != nil {
		w.Write(vmevent.Event{Type: vmevent.FeatureAbsent, Message: why})
	}
	Skip(why)
}, NodeTimeout(90*time.Second))

// featureAbsent returns why the kernel lacks FUSE-over-io_uring, or ""
// when it has it, should have it, or the INIT offer could not be read (the
// specs then meet that failure themselves).
func featureAbsent(ctx context.Context) string {
	info, err := kernelInitOffer(ctx)
	if err != nil {
		return ""
	}
	err = features.RequireOnRelease(features.HaveIOURing(info), kernelRelease())
	if !errors.Is(err, features.ErrNotSupported) {
		return ""
	}
	return fmt.Sprintf("%v; kernel %s offered FUSE_INIT %d.%d", err, kernelRelease(), info.KernelMajor, info.KernelMinor)
}

var initOnce struct {
	sync.Once
	info protocol.InitInfo
	err  error
}

// kernelInitOffer is the kernel's FUSE_INIT offer, read once per guest on
// a throwaway mount (the gate and the ABI detection share it).
func kernelInitOffer(ctx context.Context) (protocol.InitInfo, error) {
	initOnce.Do(func() { initOnce.info, initOnce.err = initOffer(ctx) })
	return initOnce.info, initOnce.err
}
