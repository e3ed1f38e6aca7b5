// Package kernel turns a kernel argument into a bootable image on the host:
// "debian:VERSION-FLAVOUR" is resolved by package name against Debian's
// archive with a private apt configuration under the cache directory (the
// system's apt sources are never touched) and unpacked with dpkg-deb; a path
// must be an x86 bzImage. Every resolved kernel carries its exact package
// version and the sha256 of the image that will boot; an unpacked kernel
// folder records the sha256s of its .deb files and its image, and one whose
// image went missing or changed is unpacked again. FetchSource unpacks
// Debian's linux-source-VERSION the same way, as a tree to build (package
// kbuild builds it). Fetching needs apt-get, apt-cache and dpkg-deb on the
// host, and tar for sources.
package kernel
