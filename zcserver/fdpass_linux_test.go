package zcserver

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// unixPair returns both ends of a connected unix stream socket pair.
func unixPair(t *testing.T) (a, b *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

func TestSendReceiveFD(t *testing.T) {
	a, b := unixPair(t)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	if err := SendFD(a, p[1]); err != nil {
		t.Fatal(err)
	}
	unix.Close(p[1])
	got, err := ReceiveFD(b)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := unix.FcntlInt(uintptr(got), unix.F_GETFD, 0)
	if err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("received descriptor flags %#x, %v: want close-on-exec", fl, err)
	}
	if _, err := unix.Write(got, []byte("zc")); err != nil {
		t.Fatal(err)
	}
	unix.Close(got)
	buf := make([]byte, 8)
	n, err := unix.Read(p[0], buf)
	if err != nil || string(buf[:n]) != "zc" {
		t.Fatalf("pipe carried %q, %v: the received descriptor is not the sent pipe", buf[:n], err)
	}
}

func TestReceiveFDWithoutRights(t *testing.T) {
	a, b := unixPair(t)
	if _, err := a.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if fd, err := ReceiveFD(b); err == nil {
		unix.Close(fd)
		t.Fatal("a message without SCM_RIGHTS gave a descriptor")
	}
	a.Close()
	if _, err := ReceiveFD(b); err == nil {
		t.Fatal("a closed peer gave a descriptor")
	}
}

func TestStartRejectsForeignDevFD(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	_, err := Start(context.Background(), Config{MountPoint: t.TempDir(), DevFD: p[1]})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Start with a pipe as DevFD: %v, want ErrInvalidConfig", err)
	}
	if _, err := unix.FcntlInt(uintptr(p[1]), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("Start did not close the passed descriptor on error: %v", err)
	}
	if _, err := (Config{MountPoint: "/m", DevFD: -2}).withDefaults(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative DevFD: %v", err)
	}
}

func TestMountFDArguments(t *testing.T) {
	if _, err := MountFD(t.TempDir(), -1, 0, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("negative uid: %v", err)
	}
	if _, err := MountFD(t.TempDir(), 0, 0, 100); !errors.Is(err, unix.EINVAL) {
		t.Errorf("max_read 100: %v", err)
	}
}
