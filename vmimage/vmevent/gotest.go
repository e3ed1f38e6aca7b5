package vmevent

import "path"

// ServerTests is the test binary of package zcserver in the initramfs
// (vmimage builds it): its tests mount FUSE filesystems, so they run in
// the VM only, named by GoTests.
const ServerTests = "/zcsuite/zcserver.test"

// GoTestSeqBase is added to the sequence numbers of the specs made from
// GoTests, so that they never meet a guest suite's.
const GoTestSeqBase = 1 << 20

// GoTestSpec is the spec name of test name in the Go test binary at bin.
func GoTestSpec(bin, name string) string { return path.Base(bin) + ": " + name }
