package console

import (
	"regexp"
	"strings"
)

// consoleStamp matches a printk time stamp, optionally followed by a
// PRINTK_CALLER field: "[    2.059915] " or "[    2.059915][    T1] ".
var consoleStamp = regexp.MustCompile(`\[\s*\d+\.\d{6}\](?:\[\s*[TC]\d+\])? ?`)

// kmsgPrefix matches the header of a /dev/kmsg record:
// "<prio>,<seq>,<usec>,<flags>[,more];".
var kmsgPrefix = regexp.MustCompile(`^\d+,\d+,\d+,[^;]*;`)

// StripTimestamp returns the kernel message carried by one log line: it drops
// a console time stamp ("[    2.059915] foo"), a /dev/kmsg record header
// ("6,123,4567,-;foo"), whatever another writer left on the serial line
// before the stamp (escape sequences, firmware or program output) and trailing white
// space including the CR of a CRLF line. The indentation of stack frames
// ("[    2.1] func+0x1/0x2" keeps its one leading space) is preserved.
func StripTimestamp(line string) string {
	line = strings.TrimRight(line, " \t\r\n")
	if m := kmsgPrefix.FindStringIndex(line); m != nil {
		return line[m[1]:]
	}
	// The stamp is normally at the start. Text before it is another
	// writer's output that shared the serial line: escape sequences and
	// firmware text before the first kernel line, or a guest program's
	// unterminated output.
	if loc := consoleStamp.FindStringIndex(line); loc != nil {
		return line[loc[1]:]
	}
	return line
}

// TaintFlags returns the taint letters a kernel line reports, set flags only
// and in the kernel's order: "W" for "Tainted: G        W" (G is the unset
// form of P and is dropped), "WL" for "Tainted: [W]=WARN, [L]=SOFTLOCKUP".
// It returns "" for "Not tainted" and for a line without taint information.
func TaintFlags(line string) string {
	msg := StripTimestamp(line)
	i := strings.Index(msg, "Tainted: ")
	if i < 0 {
		return ""
	}
	rest := msg[i+len("Tainted: "):]
	var b strings.Builder
	if strings.HasPrefix(rest, "[") {
		// "[W]=WARN, [L]=SOFTLOCKUP"
		for _, f := range strings.Split(rest, ",") {
			f = strings.TrimSpace(f)
			if len(f) >= 4 && f[0] == '[' && f[2] == ']' && f[3] == '=' && isUpper(f[1]) {
				b.WriteByte(f[1])
			}
		}
		return b.String()
	}
	// "G        W         7.3.0 #1": one fixed-width column per flag, blank
	// when unset, then the release. Adjacent set flags share a field.
	for _, f := range strings.Fields(rest) {
		if !allUpper(f) {
			break
		}
		for j := 0; j < len(f); j++ {
			if f[j] != 'G' {
				b.WriteByte(f[j])
			}
		}
	}
	return b.String()
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

func allUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isUpper(s[i]) {
			return false
		}
	}
	return s != ""
}
