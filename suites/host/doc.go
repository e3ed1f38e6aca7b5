// Package host boots zcsuite VMs from `go test`: TestVM runs the guest
// specs against each kernel named by -kernels and turns every guest spec's
// verdict into a subtest, so a plain `go test ./suites/...` drives both
// sides. Without QEMU it skips with the reason, unless -require-vm makes
// that a failure (./run.sh test and CI set it).
package host
