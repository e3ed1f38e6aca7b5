package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func needQEMU(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not installed")
	}
}

func TestArgsForSavingAndResuming(t *testing.T) {
	needQEMU(t)
	state := filepath.Join(t.TempDir(), "it's a state")
	os.WriteFile(state, nil, 0o644)
	f, err := os.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := newConfig([]Option{WithKernel("/k"), WithInitramfs("/i"), WithIncoming(f)})
	if err != nil {
		t.Fatal(err)
	}
	args := c.Args("/s/ev.sock", "/s/qmp.sock")
	line := strings.Join(args, " ")
	if !slices.Contains(args, "unix:/s/qmp.sock,server=on,wait=off") {
		t.Errorf("no QMP socket in %s", line)
	}
	i := slices.Index(args, "-incoming")
	if i < 0 || args[i+1] != "fd:3" {
		t.Errorf("incoming is not the state's descriptor 3: %s", line)
	}
	if _, err := newConfig([]Option{WithKernel("/k"), WithInitramfs("/i"), WithIncoming(nil)}); err == nil {
		t.Error("a nil state file was accepted")
	}
}

func TestMachineArgsLeaveOutPaths(t *testing.T) {
	needQEMU(t)
	a, err := MachineArgs(WithKernel("/a/vmlinuz"), WithInitramfs("/a/i.cpio"), WithSMP(2), WithAppend("x=1"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := MachineArgs(WithKernel("/b/vmlinuz"), WithInitramfs("/b/i.cpio"), WithSMP(2), WithAppend("x=1"))
	c, _ := MachineArgs(WithKernel("/b/vmlinuz"), WithInitramfs("/b/i.cpio"), WithSMP(1), WithAppend("x=1"))
	if strings.Join(a, " ") != strings.Join(b, " ") {
		t.Errorf("paths changed the machine: %v vs %v", a, b)
	}
	if strings.Join(b, " ") == strings.Join(c, " ") {
		t.Error("the vCPU count did not change the machine")
	}
}

func TestReproCommandBootsWithoutListeners(t *testing.T) {
	needQEMU(t)
	cmd, err := ReproCommand(WithKernel("/k"), WithInitramfs("/i"), WithQMP())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cmd, "-qmp") || strings.Contains(cmd, "-incoming") || !strings.Contains(cmd, "file,id=zcev,path=events.jsonl") {
		t.Errorf("repro %s", cmd)
	}
}
