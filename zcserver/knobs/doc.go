// Package knobs holds zcserver's fault knobs and the one seam where they
// act: Faults is the configuration (zcserver.FaultKnobs), and an Injector
// built from it is what every transport asks, at the point a knob acts,
// whether and how to break the protocol — the /dev/fuse readers
// (package fuseconn) for held requests and raw reply errors, the Linux
// 7.3 ring transport (package linux73ring) for those and for capability
// drops, personalities, the slot plan (ringplan.Input), payload_sz and
// slot probes. Section numbers refer to zcserver/fuseabi/linux73/ABI.md.
//
// It promises: every knob is off at its zero value, and an Injector of the
// zero Faults changes nothing; held requests are counted, announced on one
// channel and released by ReleaseAll. It needs nothing from the kernel.
package knobs
