package zcserver_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// startRing starts cfg; a kernel without the mode's feature skips.
func startRing(t *testing.T, cfg zcserver.Config) *zcserver.Server {
	t.Helper()
	_, err := zcserver.PossibleCPUs()
	if err != nil {
		t.Fatal(err)
	}
	probe := cfg
	probe.Mode, probe.ManualRing = zcserver.ModeDevFuse, false
	probe.Faults = zcserver.FaultKnobs{}
	srv := start(t, probe)
	info := srv.Init()
	feat := features.HaveIOURing(info)
	if feat == nil && cfg.Mode != zcserver.ModeRingPerEntry {
		feat = features.HaveBufPool(info)
	}
	if err := features.RequireOnRelease(feat, uname(t)); err != nil {
		if errors.Is(err, features.ErrNotSupported) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	return start(t, cfg)
}

// TestRingModes writes and reads back files through every ring mode.
func TestRingModes(t *testing.T) {
	requireVM(t)
	for _, m := range []zcserver.Mode{zcserver.ModeRingPerEntry, zcserver.ModeRingPool, zcserver.ModeRingPoolRegistered, zcserver.ModeRingZeroCopy} {
		t.Run(m.String(), func(t *testing.T) {
			mnt := filepath.Join(t.TempDir(), "mnt")
			srv := startRing(t, zcserver.Config{MountPoint: mnt, Mode: m, QueueDepth: 4, ZeroCopyFiles: zcserver.NamePrefix("zc")})
			for _, name := range []string{"zc-file", "plain"} {
				for _, flags := range []int{0, unix.O_DIRECT} {
					p := filepath.Join(mnt, name)
					fd := mustOpen(t, p, unix.O_CREAT|unix.O_RDWR|unix.O_TRUNC|flags)
					want := pattern(1<<20+4096, len(name)+flags)
					buf := alignedBuf(t, len(want))
					copy(buf, want)
					writeAll(t, fd, buf, 0)
					mustClose(t, fd)
					fd = mustOpen(t, p, unix.O_RDONLY|flags)
					got := alignedBuf(t, len(want)+8192)
					n := readAll(t, fd, got, 0)
					mustClose(t, fd)
					if n != len(want) || !bytes.Equal(got[:n], want) {
						t.Fatalf("%s flags %#x: read back %d bytes, mismatch", name, flags, n)
					}
				}
			}
			c := srv.Counters()
			t.Logf("%s: setup %v", m, srv.SetupLog())
			t.Logf("%s: reads %d writes %d zc requests %d zc bytes r/w %d/%d copied r/w %d/%d", m,
				c.Requests[fuseabi.FUSE_READ], c.Requests[fuseabi.FUSE_WRITE], c.Ring.ZeroCopyTotal(),
				c.ZeroCopyReadBytes, c.ZeroCopyWriteBytes, c.CopiedReadBytes, c.CopiedWriteBytes)
			var ringReqs uint64
			for _, q := range c.Queues {
				if q.Transport == zcserver.TransportRing {
					ringReqs += q.Requests
				}
			}
			if ringReqs == 0 {
				t.Fatal("no request came through the ring")
			}
			if m == zcserver.ModeRingZeroCopy && (c.ZeroCopyReadBytes == 0 || c.ZeroCopyWriteBytes == 0) {
				t.Fatal("no zero copy in zero-copy mode")
			}
		})
	}
}

func alignedBuf(t *testing.T, n int) []byte {
	b, err := unix.Mmap(-1, 0, (n+4095)&^4095, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b[:n]
}
