package mutate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// Rule names a mutation rule.
type Rule string

// The rules, one change each on one line.
const (
	RuleIfFalse   Rule = "if-false"  // if (c)          -> if (0)
	RuleOperand   Rule = "operand"   // a || b, a && b  -> each operand dropped on its own
	RuleCompare   Rule = "compare"   // >= <-> >, < <-> <=
	RuleErrno     Rule = "errno"     // return -EX      -> another errno
	RuleCallDrop  Rule = "call-drop" // f(x);           -> ;
	RuleAssignRHS Rule = "assign-0"  // x = y;          -> x = 0;
)

// Mutant is one changed line of one file.
type Mutant struct {
	// ID is stable across runs: the file, the line number, and the
	// original and mutated text.
	ID   string `json:"id"`
	File string `json:"file"`
	Line int    `json:"line"`
	Func string `json:"func,omitempty"`
	Rule Rule   `json:"rule"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// Diff is the mutant as a one-line unified change.
func (m Mutant) Diff() string {
	return fmt.Sprintf("-%s / +%s", strings.TrimSpace(m.Old), strings.TrimSpace(m.New))
}

// Apply returns src with the mutant's line replaced; it fails when the
// line no longer holds the text the mutant was made from.
func (m Mutant) Apply(src []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(src), "\n")
	if m.Line < 1 || m.Line > len(lines) {
		return nil, fmt.Errorf("mutate: %s has no line %d", m.File, m.Line)
	}
	got := strings.TrimRight(lines[m.Line-1], "\n")
	if got != m.Old {
		return nil, fmt.Errorf("mutate: %s:%d changed since the mutant was made", m.File, m.Line)
	}
	lines[m.Line-1] = m.New + "\n"
	return []byte(strings.Join(lines, "")), nil
}

// errnoSwap is the errno a mutant returns instead of the original: a
// different value the ABI gives a meaning, so a spec that pins the exact
// errno tells them apart.
func errnoSwap(e string) string {
	if e == "EINVAL" {
		return "EFAULT"
	}
	return "EINVAL"
}

var (
	reIf      = regexp.MustCompile(`^(\s*(?:\}\s*else\s+)?if\s*)\(`)
	reErrno   = regexp.MustCompile(`-(E[A-Z0-9]+)\b`)
	reCall    = regexp.MustCompile(`^(\s*)([A-Za-z_][A-Za-z0-9_]*(?:(?:->|\.)[A-Za-z_][A-Za-z0-9_]*)*)\s*\(`)
	reAssign  = regexp.MustCompile(`^(\s*)([A-Za-z_][A-Za-z0-9_]*(?:(?:->|\.)[A-Za-z_][A-Za-z0-9_]*|\[[^\]]*\])*)\s*=\s*(.+);\s*$`)
	reDecl    = regexp.MustCompile(`^\s*(?:static\s+|const\s+|volatile\s+|register\s+|unsigned\s+|signed\s+)*(?:struct|union|enum)\s+\w+\s*\**\s*\w|^\s*(?:static\s+|const\s+|unsigned\s+|signed\s+)*(?:int|long|short|char|bool|void|size_t|ssize_t|loff_t|u8|u16|u32|u64|s8|s16|s32|s64|__u8|__u16|__u32|__u64|__le16|__le32|__le64|unsigned|umode_t|gfp_t|pgoff_t|dev_t|kuid_t|kgid_t|fmode_t|uint|u_int)\b[\s*]*\w`)
	reTypedef = regexp.MustCompile(`^\s*[a-z_][a-z0-9_]*_t\s+\**\w+\s*(=|;|\[)`)
	declMacro = regexp.MustCompile(`^(LIST_HEAD|DEFINE_[A-Z0-9_]+|DECLARE_[A-Z0-9_]+)$`)
	keywords  = map[string]bool{"if": true, "while": true, "for": true, "switch": true, "return": true, "sizeof": true, "do": true, "else": true, "case": true, "goto": true, "typeof": true, "__typeof__": true}
)

// Generate makes every mutant of src, a C file named file (the name is
// only recorded), in line order.
func Generate(file string, src []byte) []Mutant {
	var out []Mutant
	lines := strings.Split(strings.TrimSuffix(string(src), "\n"), "\n")
	code := codeLines(lines)
	funcs := functionsOf(lines, code)
	for i, l := range lines {
		c := code[i]
		if c == "" || funcs[i] == "" {
			continue
		}
		add := func(r Rule, nl string) {
			if nl == l {
				return
			}
			out = append(out, newMutant(file, i+1, funcs[i], r, l, nl))
		}
		for _, nl := range ifMutants(l, c) {
			add(nl.rule, nl.text)
		}
		for _, nl := range compareMutants(l, c) {
			add(RuleCompare, nl)
		}
		if strings.HasPrefix(strings.TrimSpace(c), "return ") || reAssign.MatchString(c) {
			for _, loc := range reErrno.FindAllStringSubmatchIndex(c, -1) {
				e := c[loc[2]:loc[3]]
				add(RuleErrno, l[:loc[2]]+errnoSwap(e)+l[loc[3]:])
			}
		}
		if !stmtStart(code, i) {
			continue // a continuation line of a longer statement
		}
		if nl, ok := callDrop(l, c); ok {
			add(RuleCallDrop, nl)
		}
		if nl, ok := assignZero(l, c); ok {
			add(RuleAssignRHS, nl)
		}
	}
	return out
}

// stmtStart reports whether line i starts a statement: the code line
// before it ends one, opens or closes a block, is a label, or is a whole
// if/for/while/else head.
func stmtStart(code []string, i int) bool {
	for k := i - 1; k >= 0; k-- {
		p := strings.TrimSpace(code[k])
		if p == "" {
			continue
		}
		switch p[len(p)-1] {
		case ';', '{', '}', ':':
			return true
		}
		if p == "else" {
			return true
		}
		if _, _, ok := condSpan(code[k]); ok && strings.HasSuffix(p, ")") {
			return true
		}
		return regexp.MustCompile(`^(for|while)\s*\(.*\)$`).MatchString(p) && balanced(p)
	}
	return true
}

func newMutant(file string, line int, fn string, r Rule, old, nl string) Mutant {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%s\x00%s", file, line, old, nl)))
	return Mutant{ID: hex.EncodeToString(h[:6]), File: file, Line: line, Func: fn, Rule: r, Old: old, New: nl}
}

// codeLines returns each line's code with comments and string contents
// blanked (same length, so offsets match the original line), and "" for
// lines the generator must not touch: preprocessor lines and their
// continuations, lines inside or partly inside a block comment, and lines
// that do not hold a whole statement or condition.
func codeLines(lines []string) []string {
	out := make([]string, len(lines))
	inComment, inMacro := false, false
	for i, l := range lines {
		wasMacro := inMacro
		inMacro = strings.HasSuffix(strings.TrimRight(l, " \t"), "\\") && (wasMacro || strings.HasPrefix(strings.TrimSpace(l), "#"))
		if wasMacro || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		b := []byte(l)
		touched := inComment
		inStr := byte(0)
		for j := 0; j < len(b); j++ {
			switch {
			case inComment:
				if b[j] == '*' && j+1 < len(b) && b[j+1] == '/' {
					b[j], b[j+1] = ' ', ' '
					j++
					inComment = false
				} else {
					b[j] = ' '
				}
			case inStr != 0:
				if b[j] == '\\' && j+1 < len(b) {
					b[j], b[j+1] = '_', '_'
					j++
				} else if b[j] == inStr {
					inStr = 0
				} else {
					b[j] = '_'
				}
			case b[j] == '"' || b[j] == '\'':
				inStr = b[j]
			case b[j] == '/' && j+1 < len(b) && b[j+1] == '/':
				for k := j; k < len(b); k++ {
					b[k] = ' '
				}
				j = len(b)
			case b[j] == '/' && j+1 < len(b) && b[j+1] == '*':
				b[j], b[j+1] = ' ', ' '
				j++
				inComment, touched = true, true
			}
		}
		if touched || inComment {
			continue // a line sharing code with a block comment is left alone
		}
		out[i] = string(b)
	}
	return out
}

// Functions names, for each line of the C source src, the function whose
// body holds it ("" outside function bodies), by the rule functionsOf
// uses for mutants.
func Functions(src []byte) []string {
	lines := strings.Split(string(src), "\n")
	return functionsOf(lines, codeLines(lines))
}

// functionsOf names the function each line's body belongs to ("" outside
// function bodies): a definition starts at column 0 with name( and its
// body is the block between a "{" and a "}" at column 0.
func functionsOf(lines, code []string) []string {
	out := make([]string, len(lines))
	reName := regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*\(`)
	pending, cur := "", ""
	for i, l := range lines {
		switch {
		case cur != "" && strings.HasPrefix(l, "}"):
			cur = ""
			continue
		case cur == "" && strings.HasPrefix(l, "{"):
			cur, pending = pending, ""
			continue
		case cur == "" && code[i] != "" && len(l) > 0 && l[0] != ' ' && l[0] != '\t':
			if m := reName.FindStringSubmatch(code[i]); m != nil && !strings.HasSuffix(strings.TrimSpace(code[i]), ";") {
				pending = m[1]
			}
		}
		if cur != "" {
			out[i] = cur
		}
	}
	return out
}

type ruleText struct {
	rule Rule
	text string
}

// condSpan finds the condition of an if statement that starts and ends on
// this line: the offsets just inside its parentheses.
func condSpan(c string) (int, int, bool) {
	m := reIf.FindStringSubmatchIndex(c)
	if m == nil {
		return 0, 0, false
	}
	open := m[1] - 1
	depth := 0
	for j := open; j < len(c); j++ {
		switch c[j] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return open + 1, j, true
			}
		}
	}
	return 0, 0, false
}

func ifMutants(l, c string) []ruleText {
	s, e, ok := condSpan(c)
	if !ok {
		return nil
	}
	out := []ruleText{}
	if strings.TrimSpace(c[s:e]) != "0" {
		out = append(out, ruleText{RuleIfFalse, l[:s] + "0" + l[e:]})
	}
	// Top-level operands of one kind of logical operator.
	for _, op := range []string{"||", "&&"} {
		var cuts []int
		depth := 0
		for j := s; j < e; j++ {
			switch c[j] {
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 && strings.HasPrefix(c[j:], op) {
				cuts = append(cuts, j)
				j++
			}
		}
		if len(cuts) == 0 {
			continue
		}
		// Dropping an operand of || makes it false; of &&, true.
		neutral := "0"
		if op == "&&" {
			neutral = "1"
		}
		bounds := append(append([]int{s - len(op)}, cuts...), e)
		for k := 0; k+1 < len(bounds); k++ {
			a, b := bounds[k]+len(op), bounds[k+1]
			lead := len(l[a:b]) - len(strings.TrimLeft(l[a:b], " \t"))
			trail := len(l[a:b]) - len(strings.TrimRight(l[a:b], " \t"))
			out = append(out, ruleText{RuleOperand, l[:a+lead] + neutral + l[b-trail:]})
		}
		break // an operand mixing || and && at top level is left to if-false
	}
	return out
}

// compareMutants flips each relational operator of the line by one.
func compareMutants(l, c string) []string {
	var out []string
	for j := 0; j < len(c); j++ {
		ch := c[j]
		if ch != '<' && ch != '>' {
			continue
		}
		prev := byte(0)
		if j > 0 {
			prev = c[j-1]
		}
		next := byte(0)
		if j+1 < len(c) {
			next = c[j+1]
		}
		switch {
		case ch == '>' && prev == '-': // ->
			continue
		case next == ch: // << >> (and <<= >>=)
			j++
			if j+1 < len(c) && c[j+1] == '=' {
				j++
			}
			continue
		case next == '=':
			out = append(out, l[:j+1]+l[j+2:])
			j++
		default:
			out = append(out, l[:j+1]+"="+l[j+1:])
		}
	}
	return out
}

// callDrop deletes a call statement whose result is not used: the whole
// line is "f(args);".
func callDrop(l, c string) (string, bool) {
	t := strings.TrimSpace(c)
	m := reCall.FindStringSubmatch(c)
	if m == nil || !strings.HasSuffix(t, ");") || keywords[m[2]] || declMacro.MatchString(m[2]) || !balanced(t) {
		return "", false
	}
	// The call's parentheses must close at the end: "f(a) + g(b);" is not a call statement.
	open := strings.Index(t, "(")
	depth := 0
	for j := open; j < len(t); j++ {
		switch t[j] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 && j != len(t)-2 {
				return "", false
			}
		}
	}
	return m[1] + ";", true
}

// assignZero sets a plain assignment's right side to 0 ("x = y;" ->
// "x = 0;"); declarations with initialisers are left alone.
func assignZero(l, c string) (string, bool) {
	if reDecl.MatchString(c) || reTypedef.MatchString(c) {
		return "", false
	}
	m := reAssign.FindStringSubmatchIndex(c)
	if m == nil || keywords[c[m[4]:strings.IndexAny(c[m[4]:]+" ", " ([-.")+m[4]]] {
		return "", false
	}
	rhs := strings.TrimSpace(c[m[6]:m[7]])
	if rhs == "0" || rhs == "NULL" || rhs == "false" || !balanced(rhs) || strings.HasPrefix(rhs, "{") {
		return "", false
	}
	// The '=' must be a plain assignment, not part of ==, <=, >=, != or op=.
	eq := strings.Index(c[m[5]:], "=") + m[5]
	if eq > 0 && strings.ContainsRune("=!<>+-*/%&|^", rune(c[eq-1])) || eq+1 < len(c) && c[eq+1] == '=' {
		return "", false
	}
	return l[:m[6]] + "0" + l[m[7]:], true
}

func balanced(s string) bool {
	depth := 0
	for _, ch := range s {
		switch ch {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}
