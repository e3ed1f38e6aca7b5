// Package cause condenses a spec's failure message, as Ginkgo and
// Gomega format it, into the one line the host shows as the spec's reason:
// the assertion's own description followed by the error or the values it
// saw, whitespace folded, at most Max bytes. It drops what only repeats
// that line: Gomega's type headers ("<*fmt.wrapError | 0x…>:"), the numeric
// form of an errno and the field dump of an error's struct. It needs
// nothing from the kernel.
package cause
