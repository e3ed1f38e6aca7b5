// Package features answers whether the running kernel has a FUSE io_uring
// feature, from facts the kernel states itself (the FUSE_INIT offer), never
// from the version alone. Each probe has three answers: nil (present), an
// error matching ErrNotSupported (absent, conclusive; it names the feature
// and the first kernel that has it, so a spec can skip with that text), or
// any other error (the probe itself is broken: fail, never skip). The
// version only decides whether an absence is itself a failure
// (RequireOnRelease).
package features
