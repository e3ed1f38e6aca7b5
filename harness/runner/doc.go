// Package runner is zcsuite's host pipeline: resolve the kernel, check its
// config, build the initramfs, choose the accelerator, boot one VM for the
// non-destructive guest specs and one VM per destructive spec, decide the
// verdicts and write the reports. Data flows one way, kernel → VM → guest
// events → verdict → report. Environment variables are defaults only:
// ZCSUITE_CACHE (cache directory, default $XDG_CACHE_HOME/zcsuite) and
// ZCSUITE_ACCEL (auto, kvm or tcg).
package runner
