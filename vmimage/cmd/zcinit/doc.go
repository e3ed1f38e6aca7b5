// Command zcinit is the init (PID 1) of the zcsuite VM: it mounts the pseudo
// filesystems, streams /dev/kmsg and the guest suite's spec events to the
// host over the virtio-serial port named vmevent.PortName, runs the guest
// test binary named by the kernel command line under a deadline, sends the
// suite's JSON report and a final done event, and powers the VM off. It
// needs a kernel with devtmpfs, virtio-console and ACPI power-off.
package main
