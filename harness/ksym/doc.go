// Package ksym names kernel text addresses from a System.map, so that the
// splats of a kernel built without CONFIG_KALLSYMS — whose WARNING, RIP and
// call-trace lines print bare addresses such as 0xffffffff81346824 — still
// get titles that name the function ("WARNING in fuse_uring_req_end") and
// can match what a spec declares. It needs the System.map of exactly the
// booted image (a tree build's, from its build directory) and a kernel
// that is not relocated at boot (no KASLR): the map's addresses must be the
// running kernel's.
package ksym
