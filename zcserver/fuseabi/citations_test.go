package fuseabi

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The repository's comments and spec texts cite the ABI notes by section
// ("ABI doc §3.1 check 2", "§7 H1", "§5 a (ii)", "§4 step 5"). The notes
// are zcserver/fuseabi/linux73/ABI.md (Linux 7.3) and
// zcserver/fuseabi/kmbuf/ABI.md (the kmbuf series). TestABICitations
// fails when a cited section, or a cited check, step, row or hazard inside
// it, is missing from the notes the citing file refers to.

// abiDoc is one ABI.md: for each section key ("2.1", "4.a", "5 a") the
// items found in that section's own text ("2" for a numbered list entry or
// a table row starting with 2, "(2)" for an indented numbered entry, "H1",
// "(ii)"). A check, step or row must be a top-level entry; "(1)" may be
// either.
type abiDoc struct {
	name     string
	sections map[string]map[string]bool
}

var (
	// "## 2. Wire layout", "### 2.1 SQE", "### 4.a CAP...", "### 5 a: CAP...".
	headingRE = regexp.MustCompile(`^#{1,6}\s+(\d+(?:\.[0-9a-z]+)*)(?:\s([a-z]):)?[\s.:]`)
	numItemRE = regexp.MustCompile(`^(\s*)(\d+)\.\s`)
	rowItemRE = regexp.MustCompile(`^\|\s*(\d+)\s*\|`)
	hazardRE  = regexp.MustCompile(`\*\*(H\d+)\*\*`)
	parenRE   = regexp.MustCompile(`^\s*[-*]\s+\(([0-9]+|[ivx]+)\)`)

	// A citation: section, an optional kmbuf edge-case letter, an optional
	// section range (§4.a–4.f), then an optional item: check(s)/step(s)/
	// row(s)/path(s) N[-M], HN, or (N)/(ii).
	citeRE = regexp.MustCompile(`§(\d+(?:\.[0-9a-z]+)*)(?: ([a-f])\b)?(?:[–-](\d+(?:\.[0-9a-z]+)*))?` +
		`(?:\s+(?:(?:checks?|steps?|rows?|paths?)\s+(\d+)(?:-(\d+))?|(H\d+)\b|\((\d+|[ivx]+)\)))?`)
)

func parseABIDoc(name, text string) *abiDoc {
	d := &abiDoc{name: name, sections: map[string]map[string]bool{}}
	var cur map[string]bool
	for _, line := range strings.Split(text, "\n") {
		if m := headingRE.FindStringSubmatch(line); m != nil {
			key := m[1]
			if m[2] != "" {
				key += " " + m[2]
			}
			cur = map[string]bool{}
			d.sections[key] = cur
			continue
		}
		if strings.HasPrefix(line, "#") {
			cur = nil // an unnumbered heading ends the numbered section
			continue
		}
		if cur == nil {
			continue
		}
		if m := numItemRE.FindStringSubmatch(line); m != nil {
			if m[1] == "" {
				cur[m[2]] = true
			} else {
				cur["("+m[2]+")"] = true
			}
		}
		if m := rowItemRE.FindStringSubmatch(line); m != nil {
			cur[m[1]] = true
		}
		if m := parenRE.FindStringSubmatch(line); m != nil {
			cur["("+m[1]+")"] = true
		}
		for _, m := range hazardRE.FindAllStringSubmatch(line, -1) {
			cur[m[1]] = true
		}
	}
	return d
}

// citation is one parsed "§..." reference.
type citation struct {
	text    string   // as matched, for messages
	section []string // section keys (two for a range)
	items   []string // items that must exist in the first section
}

func parseCitations(line string) []citation {
	var out []citation
	for _, m := range citeRE.FindAllStringSubmatch(line, -1) {
		c := citation{text: strings.TrimSpace(m[0])}
		key := m[1]
		if m[2] != "" {
			key += " " + m[2]
		}
		c.section = append(c.section, key)
		if m[3] != "" {
			c.section = append(c.section, m[3])
		}
		switch {
		case m[4] != "":
			c.items = append(c.items, m[4])
			if m[5] != "" {
				c.items = append(c.items, m[5])
			}
		case m[6] != "":
			c.items = append(c.items, m[6])
		case m[7] != "":
			c.items = append(c.items, "("+m[7]+")")
		}
		out = append(out, c)
	}
	return out
}

// missing says what of c the document lacks ("" when nothing).
func (d *abiDoc) missing(c citation) string {
	for _, s := range c.section {
		if d.sections[s] == nil {
			return "section " + s
		}
	}
	for _, it := range c.items {
		items := d.sections[c.section[0]]
		// "(1)" also names a top-level entry 1.
		if !items[it] && !(strings.HasPrefix(it, "(") && items[strings.Trim(it, "()")]) {
			return fmt.Sprintf("item %s of section %s", it, c.section[0])
		}
	}
	return ""
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}

func loadABIDoc(t *testing.T, root, rel string) *abiDoc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return parseABIDoc(rel, string(b))
}

const (
	linux73Notes = "zcserver/fuseabi/linux73/ABI.md"
	kmbufNotes   = "zcserver/fuseabi/kmbuf/ABI.md"
)

// docsFor picks the notes a citation on line of file rel refers to. A line
// naming one of the notes decides; otherwise a file whose path mentions
// kmbuf cites the kmbuf notes, the server and the specs cite Linux 7.3, and
// anything else (synthetic spec names in harness tests) may match either.
func docsFor(rel, line string, l73, km *abiDoc) []*abiDoc {
	switch {
	case strings.Contains(line, "linux73/ABI.md"):
		return []*abiDoc{l73}
	case strings.Contains(line, "kmbuf/ABI.md"):
		return []*abiDoc{km}
	case strings.Contains(strings.ToLower(rel), "kmbuf"):
		return []*abiDoc{km}
	case strings.HasPrefix(rel, "zcserver/"), strings.HasPrefix(rel, "suites/"):
		return []*abiDoc{l73}
	}
	return []*abiDoc{l73, km}
}

func TestABICitations(t *testing.T) {
	root := moduleRoot(t)
	l73 := loadABIDoc(t, root, linux73Notes)
	km := loadABIDoc(t, root, kmbufNotes)

	check := func(rel string, docs func(line string) []*abiDoc) int {
		f, err := os.Open(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		n := 0
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for lineNo := 1; sc.Scan(); lineNo++ {
			line := sc.Text()
			for _, c := range parseCitations(line) {
				n++
				var why []string
				for _, d := range docs(line) {
					w := d.missing(c)
					if w == "" {
						why = nil
						break
					}
					why = append(why, d.name+" lacks "+w)
				}
				if why != nil {
					t.Errorf("%s:%d: %q: %s", rel, lineNo, c.text, strings.Join(why, "; "))
				}
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}

	total := 0
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := e.Name()
		if e.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || name == "citations_test.go" {
			return nil // this file's citations are parser fixtures
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		total += check(rel, func(line string) []*abiDoc { return docsFor(rel, line, l73, km) })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A walk that finds (almost) nothing means the scanner broke, not
	// that the citations went away.
	if total < 300 {
		t.Errorf("found only %d citations in .go files; the scan is broken", total)
	}

	// Each note's own cross-references must resolve inside it.
	check(linux73Notes, func(string) []*abiDoc { return []*abiDoc{l73} })
	check(kmbufNotes, func(string) []*abiDoc { return []*abiDoc{km} })
}

// TestABICitationParser pins the parser on a small document, so that
// TestABICitations cannot pass by matching nothing.
func TestABICitationParser(t *testing.T) {
	doc := parseABIDoc("mini", strings.Join([]string{
		"# Title 7.3",
		"## 3. Commands",
		"### 3.1 ADD_QUEUE",
		"1. first check",
		"2. second check",
		"### 4.a Gate",
		"| Row | x |",
		"| 2 | y |",
		"### 5 d: Header offset",
		"  1. canary",
		"- nested:",
		"  2. indented",
		"3. top",
		"- (ii) personality",
		"## 7. Hazards",
		"- **H1** crash",
		"## Unnumbered",
		"1. not an item of §7",
	}, "\n"))
	cases := []struct {
		cite, missing string
	}{
		{"§3.1 check 2", ""},
		{"§3.1 checks 1-2", ""},
		{"§3.1 check 3", "item 3 of section 3.1"},
		{"§3", ""},
		{"§3.2", "section 3.2"},
		{"§4.a row 2", ""},
		{"§3.1–4.a", ""},
		{"§3.1–4.b", "section 4.b"},
		{"§5 d (1)", ""},
		{"§5 d (ii)", ""},
		{"§5 d (iii)", "item (iii) of section 5 d"},
		{"§5 d (2)", ""},
		{"§5 d (3)", ""},
		{"§5 d step 3", ""},
		{"§5 d step 2", "item 2 of section 5 d"},
		{"§5 e", "section 5 e"},
		{"§7 H1", ""},
		{"§7 H2", "item H2 of section 7"},
		{"§7 step 1", "item 1 of section 7"},
		{"§3.1 path 1", ""},
	}
	for _, tc := range cases {
		cs := parseCitations("// see " + tc.cite + ": text")
		if len(cs) != 1 {
			t.Errorf("%q: parsed %d citations, want 1", tc.cite, len(cs))
			continue
		}
		if got := doc.missing(cs[0]); got != tc.missing {
			t.Errorf("%q: missing %q, want %q", tc.cite, got, tc.missing)
		}
	}
	// "§3.1 check order" names no item; a format verb is no section.
	if cs := parseCitations(`"§3.1 check order: capability", "(§4.%d)"`); len(cs) != 2 || len(cs[0].items) != 0 || cs[1].section[0] != "4" {
		t.Errorf("parsed %+v", cs)
	}
}
