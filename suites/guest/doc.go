// Package guest holds the specs that run inside the zcsuite VM. The host
// compiles them with `go test -c` into the initramfs; the guest init runs
// the binary and relays the events this suite writes to ZCSUITE_EVENT_FD.
// Outside a zcsuite VM (no zcsuite.cfg on the kernel command line) every
// spec skips with that reason.
package guest
