// Package vmimage builds the zcsuite VM's initramfs on the host: it compiles
// the guest init, the guest test binaries and the zcserver command as static
// Linux binaries (cgo off), packs them with u-root's mkuimage into a cpio
// archive, and caches the archive under the hash of its inputs so an
// unchanged tree reuses it. The archive's name also records its own sha256,
// which is checked on every use: a damaged archive is packed again. It needs
// the go tool on PATH and a module checkout.
package vmimage
