package zcserver_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
)

// These tests mount a real FUSE filesystem. They run inside the test VM
// only (vmevent.InVM), as root, with the VM's kernel. The client side
// uses raw unix calls: the server shares this process, and Go's os package
// would register mount files with the runtime poller (see package doc).

const fuseSuperMagic = 0x65735546

func requireVM(t *testing.T) {
	t.Helper()
	if ok, why := vmevent.InVM(); !ok {
		t.Skip("mounts a FUSE filesystem: runs only inside the zcsuite VM: " + why)
	}
}

// faultLog collects a server's fault events for the test's lifetime.
type faultLog struct {
	mu     sync.Mutex
	faults []zcserver.Fault
}

func watchFaults(srv *zcserver.Server) (*faultLog, func()) {
	l := &faultLog{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case f := <-srv.Faults():
				l.mu.Lock()
				l.faults = append(l.faults, f)
				l.mu.Unlock()
			case <-stop:
				return
			}
		}
	}()
	return l, func() { close(stop); <-done }
}

func (l *faultLog) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.faults {
		t.Errorf("server fault: %v", f)
	}
}

func start(t *testing.T, cfg zcserver.Config) *zcserver.Server {
	t.Helper()
	if err := os.MkdirAll(cfg.MountPoint, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := zcserver.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	faults, stop := watchFaults(srv)
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case <-srv.Done():
		default:
			t.Error("Done not closed after Close")
		}
		if mounted(t, cfg.MountPoint) {
			t.Errorf("%s still mounted after Close", cfg.MountPoint)
		}
		stop()
		faults.check(t)
	})
	return srv
}

func mounted(t *testing.T, mnt string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == mnt {
			return true
		}
	}
	return false
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", d, what)
		case <-tick.C:
		}
	}
}

func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + seed + i>>12)
	}
	return b
}

func writeAll(t *testing.T, fd int, b []byte, off int64) {
	t.Helper()
	for done := 0; done < len(b); {
		n, err := unix.Pwrite(fd, b[done:], off+int64(done))
		if err != nil {
			t.Fatalf("pwrite %d bytes at %d: %v", len(b)-done, off+int64(done), err)
		}
		done += n
	}
}

func readAll(t *testing.T, fd int, b []byte, off int64) int {
	t.Helper()
	done := 0
	for done < len(b) {
		n, err := unix.Pread(fd, b[done:], off+int64(done))
		if err != nil {
			t.Fatalf("pread at %d: %v", off+int64(done), err)
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done
}

func mustOpen(t *testing.T, path string, flags int) int {
	t.Helper()
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return fd
}

func mustClose(t *testing.T, fd int) {
	t.Helper()
	if err := unix.Close(fd); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func wantErrno(t *testing.T, what string, err error, want unix.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err %v, want %v", what, err, want)
	}
}

func uname(t *testing.T) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Release[:])
}

// TestDevFuse exercises the /dev/fuse transport end to end.
func TestDevFuse(t *testing.T) {
	requireVM(t)
	mnt := "/tmp/mnt"
	srv := start(t, zcserver.Config{MountPoint: mnt, ZeroCopyFiles: zcserver.NamePrefix("zc")})
	info := srv.Init()
	t.Logf("kernel %s INIT: %s", uname(t), info.String())
	t.Logf("INIT offered: major=%d minor=%d flags=%#x flags2=%#x max_readahead=%d",
		info.KernelMajor, info.KernelMinor, info.KernelFlags, info.KernelFlags2, info.KernelMaxReadahead)
	t.Logf("INIT replied: minor=%d flags=%#x max_write=%d max_pages=%d max_payload_sz=%d",
		info.Minor, info.Flags, info.MaxWrite, info.MaxPages, info.MaxPayloadSz)

	t.Run("init", func(t *testing.T) {
		rel := uname(t)
		const bit9, bit11 = 1 << 9, 1 << 11
		switch {
		case strings.HasPrefix(rel, "7.3"):
			if info.KernelMinor < 46 || info.KernelFlags2&bit9 == 0 || info.KernelFlags2&bit11 == 0 {
				t.Errorf("7.3 kernel offered minor %d flags2 %#x; want minor >= 46 with bits 9 and 11 (ABI doc §1.2)", info.KernelMinor, info.KernelFlags2)
			}
			if !info.OffersIOURing() || !info.OffersBufPool() {
				t.Error("7.3: OffersIOURing/OffersBufPool false")
			}
		case strings.HasPrefix(rel, "7.2"):
			if info.KernelMinor != 45 || info.KernelFlags2&bit9 == 0 || info.KernelFlags2&bit11 != 0 {
				t.Errorf("7.2 kernel offered minor %d flags2 %#x; want minor 45 with bit 9 only (ABI doc §6)", info.KernelMinor, info.KernelFlags2)
			}
		default:
			t.Errorf("unexpected kernel %s", rel)
		}
		if info.KernelMajor != 7 || info.Major != 7 || info.Minor != min(info.KernelMinor, 46) {
			t.Errorf("versions: kernel %d.%d reply %d.%d", info.KernelMajor, info.KernelMinor, info.Major, info.Minor)
		}
		for _, f := range []uint64{fuseabi.FUSE_INIT_EXT, fuseabi.FUSE_MAX_PAGES, fuseabi.FUSE_PARALLEL_DIROPS, fuseabi.FUSE_ASYNC_READ} {
			if info.Flags&f == 0 {
				t.Errorf("reply lacks %s", fuseabi.FormatFlags(f, fuseabi.InitFlagNames))
			}
		}
		if info.Ring || info.Flags&fuseabi.FUSE_OVER_IO_URING != 0 {
			t.Error("devfuse mode replied FUSE_OVER_IO_URING")
		}
		if info.MaxWrite != 128<<10 || info.MaxPages != 32 || info.MaxPayloadSz != 131072 {
			t.Errorf("max_write %d max_pages %d max_payload_sz %d", info.MaxWrite, info.MaxPages, info.MaxPayloadSz)
		}
		if srv.ConnID() == 0 {
			t.Fatal("ConnID 0")
		}
		if _, err := os.Stat(fmt.Sprintf("%s/%d/abort", zcserver.FusectlDir, srv.ConnID())); err != nil {
			t.Errorf("fusectl entry for conn %d: %v", srv.ConnID(), err)
		}
	})

	var written uint64
	t.Run("sizes", func(t *testing.T) {
		for _, size := range []int{1, 7, 4095, 4096, 4097, 65536, 131072, 131073, 1 << 20} {
			p := filepath.Join(mnt, fmt.Sprintf("f%d", size))
			want := pattern(size, size)
			fd := mustOpen(t, p, unix.O_CREAT|unix.O_RDWR|unix.O_TRUNC)
			writeAll(t, fd, want, 0)
			mustClose(t, fd)
			written += uint64(size)
			var st unix.Stat_t
			if err := unix.Stat(p, &st); err != nil || st.Size != int64(size) || st.Mode != unix.S_IFREG|0o644 {
				t.Fatalf("stat %s: size %d mode %o err %v", p, st.Size, st.Mode, err)
			}
			fd = mustOpen(t, p, unix.O_RDONLY)
			got := make([]byte, size+100)
			n := readAll(t, fd, got, 0)
			mustClose(t, fd)
			if n != size || sha256.Sum256(got[:n]) != sha256.Sum256(want) {
				t.Fatalf("%s: read %d bytes, checksum mismatch=%v", p, n, sha256.Sum256(got[:n]) != sha256.Sum256(want))
			}
		}
	})

	t.Run("odirect", func(t *testing.T) {
		buf, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(buf)
		for _, size := range []int{4096, 5000, 1 << 20} {
			p := filepath.Join(mnt, fmt.Sprintf("direct%d", size))
			want := pattern(size, 77)
			copy(buf, want)
			fd := mustOpen(t, p, unix.O_CREAT|unix.O_RDWR|unix.O_DIRECT)
			writeAll(t, fd, buf[:size], 0)
			written += uint64(size)
			clear(buf)
			n := readAll(t, fd, buf[:size], 0)
			mustClose(t, fd)
			if n != size || !bytes.Equal(buf[:size], want) {
				t.Fatalf("%s: O_DIRECT read %d bytes, equal=%v", p, n, bytes.Equal(buf[:n], want[:n]))
			}
		}
	})

	t.Run("zero-copy opt-in is harmless on devfuse", func(t *testing.T) {
		p := filepath.Join(mnt, "zcfile")
		want := pattern(3*4096+1, 5)
		fd := mustOpen(t, p, unix.O_CREAT|unix.O_RDWR)
		writeAll(t, fd, want, 0)
		written += uint64(len(want))
		got := make([]byte, len(want))
		if n := readAll(t, fd, got, 0); n != len(want) || !bytes.Equal(got, want) {
			t.Fatalf("zcfile read %d", n)
		}
		mustClose(t, fd)
	})

	t.Run("setattr", func(t *testing.T) {
		p := filepath.Join(mnt, "f4097")
		if err := unix.Truncate(p, 10); err != nil {
			t.Fatal(err)
		}
		if err := unix.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
		ts := []unix.Timespec{{Sec: 1000, Nsec: 1}, {Sec: 2000, Nsec: 2}}
		if err := unix.UtimesNano(p, ts); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Size != 10 || st.Mode != unix.S_IFREG|0o600 || st.Mtim.Sec != 2000 || st.Mtim.Nsec != 2 || st.Atim.Sec != 1000 {
			t.Fatalf("stat after setattr: size %d mode %o mtime %v atime %v", st.Size, st.Mode, st.Mtim, st.Atim)
		}
		fd := mustOpen(t, p, unix.O_RDONLY)
		got := make([]byte, 100)
		n := readAll(t, fd, got, 0)
		mustClose(t, fd)
		if n != 10 || !bytes.Equal(got[:10], pattern(4097, 4097)[:10]) {
			t.Fatalf("read after truncate: %d bytes", n)
		}
	})

	const nfiles = 100
	dir := filepath.Join(mnt, "dir")
	t.Run("readdir", func(t *testing.T) {
		if err := unix.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		wantErrno(t, "mkdir again", unix.Mkdir(dir, 0o755), unix.EEXIST)
		var want []string
		for i := range nfiles {
			name := fmt.Sprintf("entry-%03d-%s", i, strings.Repeat("x", i%40))
			want = append(want, name)
			mustClose(t, mustOpen(t, filepath.Join(dir, name), unix.O_CREAT|unix.O_WRONLY))
		}
		got := listDir(t, dir)
		want = append(want, ".", "..")
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("readdir: got %d names, want %d", len(got), len(want))
		}
	})

	t.Run("rename", func(t *testing.T) {
		a, b := filepath.Join(dir, "entry-000-"), filepath.Join(mnt, "moved")
		if err := unix.Rename(a, b); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		wantErrno(t, "stat old name", unix.Stat(a, &st), unix.ENOENT)
		if err := unix.Stat(b, &st); err != nil {
			t.Fatal(err)
		}
		// Replace an existing file.
		if err := unix.Rename(filepath.Join(mnt, "f7"), filepath.Join(mnt, "f1")); err != nil {
			t.Fatal(err)
		}
		fd := mustOpen(t, filepath.Join(mnt, "f1"), unix.O_RDONLY)
		got := make([]byte, 16)
		n := readAll(t, fd, got, 0)
		mustClose(t, fd)
		if n != 7 || !bytes.Equal(got[:7], pattern(7, 7)) {
			t.Fatalf("renamed-over file reads %d bytes", n)
		}
		// renameat2 flags reach the server as FUSE_RENAME2 (the VFS itself
		// refuses NOREPLACE onto an existing name, so that never does).
		err := unix.Renameat2(unix.AT_FDCWD, b, unix.AT_FDCWD, filepath.Join(mnt, "f1"), unix.RENAME_NOREPLACE)
		wantErrno(t, "rename NOREPLACE onto existing", err, unix.EEXIST)
		if err := unix.Renameat2(unix.AT_FDCWD, b, unix.AT_FDCWD, filepath.Join(mnt, "moved2"), unix.RENAME_NOREPLACE); err != nil {
			t.Fatalf("rename NOREPLACE to a new name: %v", err)
		}
		if err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(mnt, "f1"), unix.AT_FDCWD, filepath.Join(mnt, "f4096"), unix.RENAME_EXCHANGE); err != nil {
			t.Fatalf("rename EXCHANGE: %v", err)
		}
		if err := unix.Stat(filepath.Join(mnt, "f1"), &st); err != nil || st.Size != 4096 {
			t.Fatalf("after exchange f1 has size %d (%v), want 4096", st.Size, err)
		}
		if err := unix.Stat(filepath.Join(mnt, "f4096"), &st); err != nil || st.Size != 7 {
			t.Fatalf("after exchange f4096 has size %d (%v), want 7", st.Size, err)
		}
		// Directories: not onto a non-empty directory.
		if err := unix.Mkdir(filepath.Join(mnt, "d2"), 0o755); err != nil {
			t.Fatal(err)
		}
		wantErrno(t, "rename dir over non-empty dir", unix.Rename(filepath.Join(mnt, "d2"), dir), unix.ENOTEMPTY)
		if err := unix.Rename(filepath.Join(mnt, "d2"), filepath.Join(dir, "sub")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unlink-rmdir", func(t *testing.T) {
		wantErrno(t, "rmdir non-empty", unix.Rmdir(dir), unix.ENOTEMPTY)
		wantErrno(t, "rmdir file", unix.Rmdir(filepath.Join(mnt, "f1")), unix.ENOTDIR)
		// An unlinked file stays readable through an open descriptor.
		p := filepath.Join(mnt, "f65536")
		fd := mustOpen(t, p, unix.O_RDONLY)
		if err := unix.Unlink(p); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		wantErrno(t, "stat unlinked", unix.Stat(p, &st), unix.ENOENT)
		got := make([]byte, 65536)
		if n := readAll(t, fd, got, 0); n != 65536 || !bytes.Equal(got, pattern(65536, 65536)) {
			t.Fatalf("read unlinked open file: %d bytes", n)
		}
		mustClose(t, fd)
		wantErrno(t, "unlink missing", unix.Unlink(p), unix.ENOENT)
		if err := unix.Rmdir(filepath.Join(dir, "sub")); err != nil {
			t.Fatal(err)
		}
		for _, name := range listDir(t, dir) {
			if name == "." || name == ".." {
				continue
			}
			if err := unix.Unlink(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := unix.Rmdir(dir); err != nil {
			t.Fatal(err)
		}
		wantErrno(t, "stat removed dir", unix.Stat(dir, &st), unix.ENOENT)
	})

	t.Run("statfs", func(t *testing.T) {
		var st unix.Statfs_t
		if err := unix.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		if st.Type != fuseSuperMagic || st.Bsize != 4096 || st.Namelen != 255 || st.Blocks == 0 || st.Files == 0 {
			t.Fatalf("statfs %+v", st)
		}
	})

	t.Run("forget", func(t *testing.T) {
		for _, name := range listDir(t, mnt) {
			if name != "." && name != ".." {
				if err := unix.Unlink(filepath.Join(mnt, name)); err != nil {
					t.Fatalf("unlink %s: %v", name, err)
				}
			}
		}
		// Evict the kernel's inodes: it sends FORGET/BATCH_FORGET, after
		// which every node but the root is gone from the tree. The kernel
		// sends RELEASE and RELEASEDIR in the background after close(2)
		// returns, and the root's RELEASEDIR (of the listing above) keeps
		// no node alive: wait for every handle too, so that no request is
		// in flight when "counters" compares the queues with the protocol.
		if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "all nodes forgotten and all handles released", func() bool {
			return srv.FS().StatFS().Nodes == 1 && srv.FS().Handles() == 0
		})
	})

	t.Run("counters", func(t *testing.T) {
		c := srv.Counters()
		for _, op := range []fuseabi.Opcode{fuseabi.FUSE_INIT, fuseabi.FUSE_LOOKUP, fuseabi.FUSE_CREATE,
			fuseabi.FUSE_WRITE, fuseabi.FUSE_READ, fuseabi.FUSE_RELEASE, fuseabi.FUSE_MKDIR, fuseabi.FUSE_RENAME,
			fuseabi.FUSE_RENAME2, fuseabi.FUSE_UNLINK, fuseabi.FUSE_RMDIR, fuseabi.FUSE_STATFS, fuseabi.FUSE_SETATTR,
			fuseabi.FUSE_OPENDIR, fuseabi.FUSE_RELEASEDIR} {
			if c.Op(op) == 0 {
				t.Errorf("no %s requests counted", op)
			}
		}
		if c.Op(fuseabi.FUSE_READDIR)+c.Op(fuseabi.FUSE_READDIRPLUS) == 0 {
			t.Error("no READDIR/READDIRPLUS counted")
		}
		if c.Op(fuseabi.FUSE_FORGET)+c.Op(fuseabi.FUSE_BATCH_FORGET) == 0 {
			t.Error("no FORGET/BATCH_FORGET counted")
		}
		if c.CopiedWriteBytes < written || c.CopiedReadBytes == 0 {
			t.Errorf("copied write %d (wrote %d) read %d", c.CopiedWriteBytes, written, c.CopiedReadBytes)
		}
		if c.ZeroCopyReadBytes != 0 || c.ZeroCopyWriteBytes != 0 {
			t.Errorf("zero-copy bytes on devfuse: %d/%d", c.ZeroCopyReadBytes, c.ZeroCopyWriteBytes)
		}
		if c.Faults != 0 {
			t.Errorf("%d faults", c.Faults)
		}
		var sum uint64
		for _, q := range c.Queues {
			if q.Transport != zcserver.TransportDevFuse || q.ReplyErrors != 0 {
				t.Errorf("queue %+v", q)
			}
			sum += q.Requests
		}
		if len(c.Queues) != zcserver.DefaultReaders || sum != c.Total() {
			t.Errorf("%d queues with %d requests, protocol saw %d", len(c.Queues), sum, c.Total())
		}
		var enosys []string
		for op, n := range c.Requests {
			if n > 0 && !protocol.Implemented(fuseabi.Opcode(op)) {
				enosys = append(enosys, fmt.Sprintf("%s=%d", fuseabi.Opcode(op), n))
			}
		}
		t.Logf("counters: total %d errors %d unimplemented %d %v copied r/w %d/%d queues %+v",
			c.Total(), c.Errors, c.Unimplemented, enosys, c.CopiedReadBytes, c.CopiedWriteBytes, c.Queues)
	})
}

// listDir reads a directory with getdents64 and a small buffer, so the
// listing takes several READDIR(PLUS) requests with continuing offsets. It
// returns every name, "." and ".." included.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	fd := mustOpen(t, dir, unix.O_RDONLY|unix.O_DIRECTORY)
	defer mustClose(t, fd)
	var names []string
	buf := make([]byte, 512)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			t.Fatalf("getdents %s: %v", dir, err)
		}
		if n == 0 {
			return names
		}
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8,
		// name NUL-terminated.
		for rec := buf[:n]; len(rec) > 0; {
			reclen := int(rec[16]) | int(rec[17])<<8
			if reclen < 20 || reclen > len(rec) {
				t.Fatalf("getdents %s: bad record length %d", dir, reclen)
			}
			names = append(names, unix.ByteSliceToString(rec[19:reclen]))
			rec = rec[reclen:]
		}
	}
}

// TestBackingDir serves file data from O_TMPFILE files in a directory.
func TestBackingDir(t *testing.T) {
	requireVM(t)
	backing := "/tmp/backing"
	if err := os.MkdirAll(backing, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := start(t, zcserver.Config{MountPoint: "/tmp/mnt-backing", BackingDir: backing, MaxWrite: 1 << 20})
	if info := srv.Init(); info.MaxWrite != 1<<20 || info.MaxPages != 256 || info.MaxPayloadSz != 1<<20 {
		t.Errorf("1 MiB max_write: %s", info.String())
	}
	p := "/tmp/mnt-backing/big"
	want := pattern(3<<20+5, 9)
	fd := mustOpen(t, p, unix.O_CREAT|unix.O_RDWR)
	writeAll(t, fd, want, 0)
	got := make([]byte, len(want))
	if n := readAll(t, fd, got, 0); n != len(want) || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes", n)
	}
	mustClose(t, fd)
	if c := srv.Counters(); c.Op(fuseabi.FUSE_WRITE) == 0 || c.CopiedWriteBytes < uint64(len(want)) {
		t.Errorf("counters: %d writes, %d bytes", c.Op(fuseabi.FUSE_WRITE), c.CopiedWriteBytes)
	}
}

// TestCloseAbortsBusyConnection closes a server while a client still holds
// a file open: the lazy unmount cannot end the connection, so Close must
// abort it through fusectl.
func TestCloseAbortsBusyConnection(t *testing.T) {
	requireVM(t)
	mnt := "/tmp/mnt-busy"
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := zcserver.Start(ctx, zcserver.Config{MountPoint: mnt})
	if err != nil {
		t.Fatal(err)
	}
	fd := mustOpen(t, mnt+"/held", unix.O_CREAT|unix.O_RDWR)
	writeAll(t, fd, []byte("x"), 0)
	if err := srv.Close(); err != nil {
		t.Fatalf("Close with a busy mount: %v", err)
	}
	select {
	case <-srv.Done():
	default:
		t.Fatal("Done not closed")
	}
	_, err = unix.Pwrite(fd, []byte("y"), 0)
	if !errors.Is(err, unix.ENOTCONN) && !errors.Is(err, unix.ECONNABORTED) {
		t.Errorf("write after abort: %v, want ENOTCONN or ECONNABORTED", err)
	}
	unix.Close(fd)
	if mounted(t, mnt) {
		t.Errorf("%s still mounted", mnt)
	}
}
