package memfs

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func newFS(t *testing.T, opts Options) *FS {
	t.Helper()
	fs, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fs.Close(); err != nil {
			t.Error(err)
		}
	})
	return fs
}

func wantErrno(t *testing.T, err error, want unix.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func names(t *testing.T, fs *FS, dir uint64, off uint64, plus bool, limit int) []DirEntry {
	t.Helper()
	fh, err := fs.OpenDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Release(fh)
	var out []DirEntry
	err = fs.ReadDir(fh, off, plus, func(e DirEntry) bool {
		if limit >= 0 && len(out) == limit {
			return false
		}
		out = append(out, e)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCreateWriteReadTruncate(t *testing.T) {
	for _, backing := range []string{"", t.TempDir()} {
		fs := newFS(t, Options{BackingDir: backing})
		a, fh, err := fs.Create(RootID, "f", 0o644, unix.O_RDWR, Owner{UID: 7, GID: 8})
		if err != nil {
			t.Fatal(err)
		}
		if a.Mode != unix.S_IFREG|0o644 || a.UID != 7 || a.GID != 8 || a.Nlink != 1 || a.Ino <= RootID {
			t.Fatalf("attr = %+v", a)
		}
		if l, _ := fs.Lookups(a.Ino); l != 1 {
			t.Fatalf("nlookup after create = %d", l)
		}
		w, err := fs.WriteExtent(fh, 10, 5)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := unix.Pwrite(w.Fd, []byte("hello"), w.Off); n != 5 || err != nil {
			t.Fatal(n, err)
		}
		fs.Wrote(w, 5)
		if a, _ := fs.GetAttr(a.Ino); a.Size != 15 {
			t.Fatalf("size = %d", a.Size)
		}
		r, err := fs.ReadExtent(fh, 12, 100)
		if err != nil || r.Len != 3 {
			t.Fatalf("read extent %+v %v", r, err)
		}
		if r, _ := fs.ReadExtent(fh, 15, 100); r.Len != 0 {
			t.Fatalf("read at EOF len %d", r.Len)
		}
		a, err = fs.SetAttr(a.Ino, SetAttr{Valid: fattrSize | fattrMode, Size: 4, Mode: 0o600})
		if err != nil || a.Size != 4 || a.Mode != unix.S_IFREG|0o600 {
			t.Fatalf("setattr %+v %v", a, err)
		}
		if fs.StatFS().Bytes != 4 {
			t.Fatalf("bytes = %d", fs.StatFS().Bytes)
		}
		if _, err := fs.SetAttr(RootID, SetAttr{Valid: fattrSize}); !errors.Is(err, unix.EISDIR) {
			t.Fatalf("truncate dir: %v", err)
		}
		if err := fs.Release(fh); err != nil {
			t.Fatal(err)
		}
		wantErrno(t, fs.Release(fh), unix.EBADF)
	}
}

func TestLookupForgetUnlinkLifetime(t *testing.T) {
	fs := newFS(t, Options{})
	a, fh, err := fs.Create(RootID, "f", 0o644, 0, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Lookup(RootID, "f"); err != nil {
		t.Fatal(err)
	}
	if l, _ := fs.Lookups(a.Ino); l != 2 {
		t.Fatalf("nlookup = %d", l)
	}
	if err := fs.Unlink(RootID, "f"); err != nil {
		t.Fatal(err)
	}
	_, err = fs.Lookup(RootID, "f")
	wantErrno(t, err, unix.ENOENT)
	// Still open and looked up: alive with nlink 0.
	if a2, err := fs.GetAttr(a.Ino); err != nil || a2.Nlink != 0 {
		t.Fatalf("unlinked attr %+v %v", a2, err)
	}
	fs.Forget(a.Ino, 2)
	if _, ok := fs.Lookups(a.Ino); !ok {
		t.Fatal("node freed while open")
	}
	if err := fs.Release(fh); err != nil {
		t.Fatal(err)
	}
	if _, ok := fs.Lookups(a.Ino); ok {
		t.Fatal("node alive after last release")
	}
	// Forgetting a linked node keeps it reachable under the same ID.
	b, _ := fs.Mkdir(RootID, "d", 0o755, Owner{})
	fs.Forget(b.Ino, 100)
	if b2, err := fs.Lookup(RootID, "d"); err != nil || b2.Ino != b.Ino {
		t.Fatalf("relookup %+v %v", b2, err)
	}
	// The root is never freed.
	fs.Forget(RootID, 5)
	if _, err := fs.GetAttr(RootID); err != nil {
		t.Fatal(err)
	}
}

func TestDirs(t *testing.T) {
	fs := newFS(t, Options{})
	d, err := fs.Mkdir(RootID, "d", 0o755, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := fs.GetAttr(RootID); r.Nlink != 3 {
		t.Fatalf("root nlink = %d", r.Nlink)
	}
	_, err = fs.Mkdir(RootID, "d", 0o755, Owner{})
	wantErrno(t, err, unix.EEXIST)
	if _, err := fs.Mknod(d.Ino, "x", unix.S_IFREG|0o600, Owner{}); err != nil {
		t.Fatal(err)
	}
	_, err = fs.Mknod(d.Ino, "fifo", unix.S_IFIFO|0o600, Owner{})
	wantErrno(t, err, unix.EPERM)
	wantErrno(t, fs.Rmdir(RootID, "d"), unix.ENOTEMPTY)
	wantErrno(t, fs.Rmdir(d.Ino, "x"), unix.ENOTDIR)
	wantErrno(t, fs.Unlink(RootID, "d"), unix.EISDIR)
	if err := fs.Unlink(d.Ino, "x"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Rmdir(RootID, "d"); err != nil {
		t.Fatal(err)
	}
	if r, _ := fs.GetAttr(RootID); r.Nlink != 2 {
		t.Fatalf("root nlink = %d", r.Nlink)
	}
	_, err = fs.Mkdir(d.Ino, "y", 0o755, Owner{})
	wantErrno(t, err, unix.ENOENT)
	for _, bad := range []string{"", ".", "..", "a/b"} {
		_, err := fs.Mkdir(RootID, bad, 0o755, Owner{})
		wantErrno(t, err, unix.EINVAL)
	}
	_, err = fs.Mkdir(RootID, string(make([]byte, 256)), 0o755, Owner{})
	wantErrno(t, err, unix.ENAMETOOLONG)
}

func TestReadDirOffsetsStable(t *testing.T) {
	fs := newFS(t, Options{})
	for _, n := range []string{"a", "b", "c", "d"} {
		if _, err := fs.Mknod(RootID, n, 0o644, Owner{}); err != nil {
			t.Fatal(err)
		}
	}
	all := names(t, fs, RootID, 0, false, -1)
	var got []string
	for _, e := range all {
		got = append(got, e.Name)
	}
	if want := ".,..,a,b,c,d"; join(got) != want {
		t.Fatalf("entries %s, want %s", join(got), want)
	}
	first := names(t, fs, RootID, 0, false, 3) // ".", "..", "a"
	// Remove an entry already returned and one not yet returned, add one.
	if err := fs.Unlink(RootID, "a"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Unlink(RootID, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Mknod(RootID, "e", 0o644, Owner{}); err != nil {
		t.Fatal(err)
	}
	rest := names(t, fs, RootID, first[2].Off, false, -1)
	got = got[:0]
	for _, e := range rest {
		got = append(got, e.Name)
	}
	if join(got) != "b,d,e" {
		t.Fatalf("continuation = %s", join(got))
	}
	// READDIRPLUS counts lookups on non-dot entries it emits only.
	bAttr, _ := fs.Lookup(RootID, "b")
	fs.Forget(bAttr.Ino, 2)                  // drop mknod's and this lookup
	plus := names(t, fs, RootID, 0, true, 3) // ".", "..", "b"
	if plus[2].Name != "b" {
		t.Fatalf("plus[2] = %s", plus[2].Name)
	}
	if l, _ := fs.Lookups(bAttr.Ino); l != 1 {
		t.Fatalf("b nlookup after readdirplus = %d, want 1", l)
	}
	if l, _ := fs.Lookups(RootID); l != 0 {
		t.Fatalf("root nlookup = %d, dots must not count", l)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

func TestRename(t *testing.T) {
	clock := time.Unix(1000, 0)
	fs := newFS(t, Options{Now: func() time.Time { return clock }})
	d1, _ := fs.Mkdir(RootID, "d1", 0o755, Owner{})
	d2, _ := fs.Mkdir(RootID, "d2", 0o755, Owner{})
	f, _ := fs.Mknod(d1.Ino, "f", 0o644, Owner{})
	g, _ := fs.Mknod(d2.Ino, "g", 0o644, Owner{})

	if err := fs.Rename(d1.Ino, "f", d2.Ino, "f2", 0); err != nil {
		t.Fatal(err)
	}
	if p, _ := fs.Path(f.Ino); p != "d2/f2" {
		t.Fatalf("path = %q", p)
	}
	wantErrno(t, fs.Rename(d2.Ino, "f2", d2.Ino, "g", RENAME_NOREPLACE), unix.EEXIST)
	if err := fs.Rename(d2.Ino, "f2", d2.Ino, "g", RENAME_EXCHANGE); err != nil {
		t.Fatal(err)
	}
	if a, _ := fs.Lookup(d2.Ino, "g"); a.Ino != f.Ino {
		t.Fatalf("exchange: g is %d", a.Ino)
	}
	// Replace: g (== old f) overwrites f2 (== old g), which is then gone.
	fs.Forget(g.Ino, 1)
	if err := fs.Rename(d2.Ino, "g", d2.Ino, "f2", 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := fs.Lookups(g.Ino); ok {
		t.Fatal("replaced node still alive")
	}
	// Directory rules.
	sub, _ := fs.Mkdir(d1.Ino, "sub", 0o755, Owner{})
	wantErrno(t, fs.Rename(RootID, "d1", sub.Ino, "x", 0), unix.EINVAL)
	wantErrno(t, fs.Rename(RootID, "d1", d2.Ino, "f2", 0), unix.ENOTDIR)
	wantErrno(t, fs.Rename(d2.Ino, "f2", d1.Ino, "sub", 0), unix.EISDIR)
	if _, err := fs.Mknod(sub.Ino, "x", 0o644, Owner{}); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, fs.Rename(RootID, "d2", d1.Ino, "sub", 0), unix.ENOTEMPTY)
	e, _ := fs.Mkdir(RootID, "e", 0o755, Owner{})
	wantErrno(t, fs.Rename(RootID, "e", d1.Ino, "sub", 0), unix.ENOTEMPTY)
	if err := fs.Rename(RootID, "e", d2.Ino, "e", 0); err != nil {
		t.Fatal(err)
	}
	if r, _ := fs.GetAttr(RootID); r.Nlink != 4 { // ".", d1, d2 + 2
		t.Fatalf("root nlink = %d", r.Nlink)
	}
	if a, _ := fs.GetAttr(d2.Ino); a.Nlink != 3 {
		t.Fatalf("d2 nlink = %d", a.Nlink)
	}
	if p, _ := fs.Path(e.Ino); p != "d2/e" {
		t.Fatalf("path = %q", p)
	}
	wantErrno(t, fs.Rename(RootID, "nope", RootID, "x", 0), unix.ENOENT)
	wantErrno(t, fs.Rename(RootID, "d1", RootID, "x", RENAME_WHITEOUT), unix.EINVAL)
	// Renaming onto itself is a no-op.
	if err := fs.Rename(RootID, "d1", RootID, "d1", 0); err != nil {
		t.Fatal(err)
	}
}
