// Package vmevent is the one wire format shared by the guest and the host:
// newline-delimited JSON events that the guest init writes to a virtio-serial
// port and the host harness decodes. It imports neither side, needs nothing
// from the kernel, and a stream is complete only when it ends with a Done
// event.
package vmevent
