package features

import (
	"errors"
	"testing"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

func TestHaveBufPool(t *testing.T) {
	k73 := fuseabi.InitInfo{KernelMajor: 7, KernelMinor: 46, KernelFlags2: 0xfff}
	k72 := fuseabi.InitInfo{KernelMajor: 7, KernelMinor: 45, KernelFlags2: 0x7ff}
	off := fuseabi.InitInfo{KernelMajor: 7, KernelMinor: 46, KernelFlags2: 0x5ff}
	odd := fuseabi.InitInfo{KernelMajor: 7, KernelMinor: 45, KernelFlags2: 0xfff}
	if err := HaveBufPool(k73); err != nil {
		t.Fatalf("7.3: %v", err)
	}
	if err := HaveBufPool(k72); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("7.2: got %v", err)
	}
	if err := HaveBufPool(off); !errors.Is(err, ErrNotSupported) || HaveIOURing(off) == nil {
		t.Fatalf("enable_uring off: got %v", err)
	}
	if err := HaveBufPool(odd); err == nil || errors.Is(err, ErrNotSupported) {
		t.Fatalf("self-contradicting kernel must be a probe error, got %v", err)
	}
	if err := HaveIOURing(fuseabi.InitInfo{}); err == nil || errors.Is(err, ErrNotSupported) {
		t.Fatalf("empty exchange must be a probe error, got %v", err)
	}
}

func TestRequireOnRelease(t *testing.T) {
	absent := HaveBufPool(fuseabi.InitInfo{KernelMajor: 7, KernelMinor: 45, KernelFlags2: 0x7ff})
	if err := RequireOnRelease(absent, "7.2.13+deb14-cloud-amd64"); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("7.2: absence should stay a skip, got %v", err)
	}
	err := RequireOnRelease(absent, "7.3-cloud-amd64")
	if err == nil || !errors.Is(err, ErrFeatureMissing) || errors.Is(err, ErrNotSupported) {
		t.Fatalf("7.3: absence must be a failure, got %v", err)
	}
	if !AtLeast("7.10.1", "7.3") || AtLeast("6.19", "7.3") || !AtLeast("7.3.0-rc7", "7.3") || AtLeast("garbage", "7.3") {
		t.Fatal("AtLeast is wrong")
	}
}
