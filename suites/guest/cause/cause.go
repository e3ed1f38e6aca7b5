package cause

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Max bounds a cause in bytes; a longer one is cut and ends in "…".
const Max = 300

// typeHeader is Gomega's line before a formatted value: "<TYPE>:" or
// "<TYPE | 0xADDR>:", with the value after it on the same line for simple
// types ("<int>: 3") or on the next lines for errors and structs.
var typeHeader = regexp.MustCompile(`^<[^<>]*>:\s*(.*)$`)

// hexOnly is the numeric form Gomega prints after an errno's text.
var hexOnly = regexp.MustCompile(`^0x[0-9a-fA-F]+$`)

// Of returns the cause line of msg (empty for an empty msg).
func Of(msg string) string {
	var parts []string
	// valueLines counts down the lines after a type header whose value
	// is below it: 2 for the value's text, 1 for the numeric form an
	// errno has after its text.
	valueLines := 0
	dumpIndent := -1 // indentation of the "{" that opened a struct dump
	for _, raw := range strings.Split(msg, "\n") {
		line := strings.TrimSpace(raw)
		indent := len(raw) - len(strings.TrimLeft(raw, " \t"))
		switch {
		case line == "":
			continue
		case dumpIndent >= 0:
			if indent == dumpIndent && strings.HasPrefix(line, "}") {
				dumpIndent = -1
			}
			continue
		case line == "{":
			dumpIndent, valueLines = indent, 0
			continue
		}
		if m := typeHeader.FindStringSubmatch(line); m != nil {
			if line = m[1]; line == "" {
				valueLines = 2
				continue
			}
		}
		if valueLines == 1 && hexOnly.MatchString(line) {
			valueLines = 0
			continue
		}
		valueLines = max(valueLines-1, 0)
		parts = append(parts, line)
	}
	out := strings.Join(parts, " ")
	if len(parts) > 1 && isGomegaStart(parts[1]) && !strings.HasSuffix(parts[0], ":") {
		// The first line is the assertion's own description.
		out = parts[0] + ": " + strings.Join(parts[1:], " ")
	}
	return bound(strings.Join(strings.Fields(out), " "))
}

// isGomegaStart reports whether a line starts Gomega's own text, so that
// a line before it is the description the spec gave its assertion.
func isGomegaStart(line string) bool {
	for _, p := range []string{"Expected", "Unexpected error", "Timed out after", "Told to stop trying", "Context was cancelled"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// bound cuts s to Max bytes at a character boundary.
func bound(s string) string {
	if len(s) <= Max {
		return s
	}
	cut := Max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
