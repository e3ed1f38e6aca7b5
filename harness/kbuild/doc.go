// Package kbuild builds a bootable zcsuite VM kernel (an x86_64 bzImage)
// from a kernel source tree and promises that every option zcsuite's config
// fragments ask for is in the built kernel's .config; it needs the kernel's
// own build tools on the host (gcc, make, flex, bison, bc, libelf-dev,
// libssl-dev, perl: kernel.BuildDeps) and never writes into the tree.
//
// The build directory is out of tree, in the cache, one per tree path and
// fragment set (cache/kbuild/<sha256 of the tree's absolute path>-min or
// -debug), so successive builds of a tree are incremental. The tree is
// configured with `make tinyconfig` and the kernel's
// scripts/kconfig/merge_config.sh -n with kernelconfig/min.config (plus
// kernelconfig/debug.config for WithDebug), and reconfigured only when the
// fragments, the compiler or one of the tree's Kconfig files change. After
// configuring, an option a fragment sets that Kconfig dropped fails the
// build with ErrConfig naming every such option; a failing make returns
// ErrBuild carrying the compiler's error lines. Tree problems (not a kernel
// tree) are ErrTree.
//
// Builds of one tree and fragment set are serialized with a lock on the
// build directory. ccache is used only when asked for (WithCCache), with
// its cache in the cache directory unless $CCACHE_DIR is set: an
// incremental build recompiles only what changed, and ccache's hashing
// slows a cold build down.
package kbuild
