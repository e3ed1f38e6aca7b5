// Package qemu boots one zcsuite VM: it builds the QEMU command line in Go
// (kernel, initramfs, serial console on stdio, a virtio-serial port carrying
// the guest's vmevent stream over a unix socket), runs QEMU under a hard
// deadline, and returns how the VM ended together with a one-line repro
// command. Every goroutine it starts belongs to the VM and is finished when
// Wait returns. It needs qemu-system-x86_64 on the host.
//
// Environment variables are defaults only: ZCSUITE_QEMU names the QEMU
// binary (default qemu-system-x86_64).
package qemu
