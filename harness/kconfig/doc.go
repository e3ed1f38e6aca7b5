// Package kconfig reads a kernel's build configuration — from a .config
// file, or from the IKCONFIG copy embedded in a bzImage/vmlinuz — and checks
// it against the options zcsuite needs (kernelconfig/required.config),
// reporting every unmet option in one error; it needs no running kernel.
//
// A Config maps each CONFIG_ symbol to its value as the file spells it
// ("y", "m", "16", "\"string\""); "# CONFIG_X is not set" reads as "n".
// FromKernelImage finds the compressed payload of a kernel image by the
// magic bytes of gzip, xz, zstd, bzip2 and lz4 (the formats of KERNEL_GZIP,
// KERNEL_XZ — whose x86 BCJ filter it undoes —, KERNEL_ZSTD, KERNEL_BZIP2 and
// KERNEL_LZ4; LZMA and LZO payloads are not supported), decompresses it and
// extracts the gzip-compressed config between the "IKCFG_ST" and "IKCFG_ED"
// markers. A kernel built without CONFIG_IKCONFIG=y yields ErrNoIKConfig; a
// file in which no kernel could be decompressed yields ErrNoPayload.
//
// Requirements are "=y" options: zcsuite boots its kernels without loading
// modules, so an option built as a module ("=m") fails the check just as a
// missing one does.
package kconfig
