// Package lava writes a LAVA job definition for a zcsuite boot, and the
// artefacts it references, so that a LAVA lab (the kernel world's test
// engine) can run zcsuite without a zcsuite host: the job deploys the
// kernel and the image to tmpfs, boots them with LAVA's qemu method
// (x86_64, zcsuite's own kernel command line) and reads the per-spec
// results the guest prints on the serial console (vmevent.ResultPrefix
// lines between vmevent.ResultsStart and vmevent.ResultsEnd) with a
// monitors test action. The lab needs a device of type qemu that can run
// qemu-system-x86_64.
package lava
