// Package fuseconn is one FUSE connection of zcserver: it mounts a
// filesystem (or takes a /dev/fuse descriptor a privileged mounter mounted
// and passed over a unix socket), serves /dev/fuse with reader goroutines
// through a protocol.Handler until the kernel's FUSE_INIT is answered and
// then for as long as the connection lives (FORGET, INTERRUPT and requests
// no ring took), and ends it: lazy unmount, then an abort through fusectl
// when the connection outlives it. The ring transports (package
// linux73ring, package kmbufring) are built on a Conn: its descriptor, its
// INIT result and its handler.
//
// It promises: Open returns only once INIT was answered (Conn.Init is
// valid) or with nothing left mounted; fault knobs act on the readers only
// through their knobs.Injector; per-reader counters (Queue) are kept from
// the first request on. It needs Linux with FUSE, permission to open
// /dev/fuse and to mount (CAP_SYS_ADMIN) unless given a mounted
// descriptor, and fusectl at FusectlDir to abort a connection that is
// still in use.
package fuseconn
