package vmevent

import "testing"

func TestInVM(t *testing.T) {
	word, err := GuestConfig{Mode: ModePort, Binary: "/zcsuite/guest.test"}.Cmdline()
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := inVM("console=ttyS0 " + word + " quiet\n"); !ok {
		t.Fatalf("a zcsuite command line: not in the VM (%s)", why)
	}
	if ok, why := inVM("BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro\n"); ok || why == "" {
		t.Fatalf("a host's command line: in the VM %v, reason %q", ok, why)
	}
}
