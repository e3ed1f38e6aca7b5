package zcserver

import (
	"errors"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
)

func TestModes(t *testing.T) {
	for m := ModeDevFuse; m <= ModeRingZeroCopy; m++ {
		p, err := ParseMode(m.String())
		if err != nil || p != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), p, err)
		}
		if m.Ring() != (m != ModeDevFuse) {
			t.Errorf("%s.Ring() = %v", m, m.Ring())
		}
	}
	if _, err := ParseMode("uring"); err == nil {
		t.Error("ParseMode accepted an unknown name")
	}
	if Mode(9).String() != "Mode(9)" || Mode(9).Ring() {
		t.Error("out-of-range mode")
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{MountPoint: "/tmp/x/"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.MountPoint != "/tmp/x" || c.QueueDepth != DefaultQueueDepth || c.Readers != DefaultReaders ||
		c.MaxWrite != 128<<10 || c.CacheTimeout != time.Second {
		t.Fatalf("defaults %+v", c)
	}
	c, _ = Config{MountPoint: "/m", CacheTimeout: -1}.withDefaults()
	if c.CacheTimeout != 0 {
		t.Fatal("negative cache timeout should disable caching")
	}
	for _, bad := range []Config{
		{},
		{MountPoint: "rel"},
		{MountPoint: "/m", Mode: 42},
		{MountPoint: "/m", QueueDepth: -1},
		{MountPoint: "/m", Readers: 65},
		{MountPoint: "/m", MaxWrite: 100},
		{MountPoint: "/m", MaxWrite: 2 << 20},
		{MountPoint: "/m", BackingDir: "rel"},
	} {
		if _, err := bad.withDefaults(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: err %v", bad, err)
		}
	}
}

func TestOpenPolicy(t *testing.T) {
	c := Config{ZeroCopyFiles: NamePrefix("zc/"), DirectIOFiles: NamePrefix("zc/dio")}
	p := c.openPolicy()
	if got := p(protocol.OpenInfo{Path: "zc/dio1"}); got != fuseabi.FOPEN_IO_URING_ZERO_COPY|fuseabi.FOPEN_DIRECT_IO {
		t.Errorf("zc/dio1 flags %#x", got)
	}
	if got := p(protocol.OpenInfo{Path: "plain"}); got != 0 {
		t.Errorf("plain flags %#x", got)
	}
	if (&Config{}).openPolicy() != nil {
		t.Error("policy without predicates")
	}
}
