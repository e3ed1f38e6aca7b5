package console

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const fixtureDir = "../../fixtures/console"

// want is one expected splat of a fixture.
type want struct {
	kind  Kind
	fatal bool
	line  int
	title string
}

// wantRE is a .want file's splat line:
// "splat kind=hung-task fatal=false line=12 title=INFO: task hung in lookup_open".
var wantRE = regexp.MustCompile(`^splat kind=(\S+) fatal=(true|false) line=(\d+) title=(.+)$`)

// readWant reads NAME.want: comment lines (#), then either "none" or one
// "splat ..." line per expected report, in log order.
func readWant(t *testing.T, path string) []want {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ws []want
	none, origin := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "# origin:"):
			origin = true
		case l == "" || strings.HasPrefix(l, "#"):
		case l == "none":
			none = true
		default:
			m := wantRE.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("%s: bad line %q", path, l)
			}
			k, err := ParseKind(m[1])
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			n, _ := strconv.Atoi(m[3])
			ws = append(ws, want{kind: k, fatal: m[2] == "true", line: n, title: m[4]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !origin {
		t.Errorf("%s: no \"# origin:\" line saying where the log was captured", path)
	}
	if none == (len(ws) > 0) {
		t.Fatalf("%s: say either \"none\" or list the splats", path)
	}
	return ws
}

func readLog(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestFixtures scans every captured log in fixtures/console and compares
// the result with its .want file.
func TestFixtures(t *testing.T) {
	logs, err := filepath.Glob(filepath.Join(fixtureDir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) == 0 {
		t.Fatal("no fixtures")
	}
	for _, lp := range logs {
		name := strings.TrimSuffix(filepath.Base(lp), ".log")
		t.Run(name, func(t *testing.T) {
			ws := readWant(t, strings.TrimSuffix(lp, ".log")+".want")
			lines := readLog(t, lp)
			got := Scan(lines)
			for i := 0; i < max(len(got), len(ws)); i++ {
				switch {
				case i >= len(got):
					t.Errorf("missing splat %d: %+v", i, ws[i])
					continue
				case i >= len(ws):
					t.Errorf("unexpected splat %d: kind=%s fatal=%v line=%d title=%s", i, got[i].Kind, got[i].Fatal, got[i].Line, got[i].Title)
					continue
				}
				g, w := got[i], ws[i]
				if g.Kind != w.kind || g.Fatal != w.fatal || g.Line != w.line || g.Title != w.title {
					t.Errorf("splat %d:\n got kind=%s fatal=%v line=%d title=%s\nwant kind=%s fatal=%v line=%d title=%s",
						i, g.Kind, g.Fatal, g.Line, g.Title, w.kind, w.fatal, w.line, w.title)
				}
				if first, _, _ := strings.Cut(g.Report, "\n"); first != StripTimestamp(lines[g.Line]) {
					t.Errorf("splat %d: report starts with %q, not with its line %d %q", i, first, g.Line, lines[g.Line])
				}
			}
			// The streaming API gives the same answer.
			s := NewScanner()
			var streamed []Splat
			for _, l := range lines {
				if sp, ok := s.Feed(l); ok {
					streamed = append(streamed, sp)
				}
			}
			if sp, ok := s.Flush(); ok {
				streamed = append(streamed, sp)
			}
			if len(streamed) != len(got) {
				t.Errorf("Feed/Flush found %d splats, Scan %d", len(streamed), len(got))
			}
		})
	}
	// Every .want has its log.
	wants, _ := filepath.Glob(filepath.Join(fixtureDir, "*.want"))
	for _, w := range wants {
		if _, err := os.Stat(strings.TrimSuffix(w, ".want") + ".log"); err != nil {
			t.Errorf("%s has no .log", w)
		}
	}
}

// TestEveryKindHasAFixture: a kind of report is either proven by a real
// captured log or listed in fixtures/console/README.md as lacking one.
func TestEveryKindHasAFixture(t *testing.T) {
	covered := map[Kind]bool{}
	wants, _ := filepath.Glob(filepath.Join(fixtureDir, "*.want"))
	for _, w := range wants {
		for _, x := range readWant(t, w) {
			covered[x.kind] = true
		}
	}
	readme, err := os.ReadFile(filepath.Join(fixtureDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, todo, ok := strings.Cut(string(readme), "## TODO: kinds without a real capture")
	if !ok {
		t.Fatal("README.md has no \"## TODO: kinds without a real capture\" section")
	}
	todo, _, _ = strings.Cut(todo, "\n## ")
	listed := map[Kind]bool{}
	for _, m := range regexp.MustCompile("(?m)^- `([A-Za-z-]+)`").FindAllStringSubmatch(todo, -1) {
		k, err := ParseKind(m[1])
		if err != nil {
			t.Errorf("README TODO: %v", err)
			continue
		}
		listed[k] = true
	}
	for k := KindUnknown + 1; k < numKinds; k++ {
		switch {
		case covered[k] && listed[k]:
			t.Errorf("kind %s has a fixture now: take it off the README TODO list", k)
		case !covered[k] && !listed[k]:
			t.Errorf("kind %s has no captured fixture and is not on the README TODO list", k)
		}
	}
}

func TestStripTimestamp(t *testing.T) {
	for in, want := range map[string]string{
		"[    2.059915] foo": "foo",
		"[    2.787859]  entry_SYSCALL_64_after_hwframe+0x76/0x7e":               " entry_SYSCALL_64_after_hwframe+0x76/0x7e",
		"[    7.026606]       Not tainted 7.3-cloud-amd64 #1\r":                  "      Not tainted 7.3-cloud-amd64 #1",
		"[  123.456789][    T1] bar":                                             "bar",
		"[    4.000000][    C0] baz":                                             "baz",
		"6,123,4567,-;foo":                                                       "foo",
		"4,1234,5678901,-,caller=T77;WARNING: CPU: 1 PID: 77 at x.c:1 f+0x1/0x2": "WARNING: CPU: 1 PID: 77 at x.c:1 f+0x1/0x2",
		"6,2,0,c; dump_stack_lvl+0x5d/0x80":                                      " dump_stack_lvl+0x5d/0x80",
		// A serial console's escape sequences before the first stamp.
		"Probing EDD (edd=off to disable)... o\x1bc\x1b[?7l\x1b[2J[    0.000000] Linux version 7.3": "Linux version 7.3",
		"DEVVM-EXIT 0\r": "DEVVM-EXIT 0",
		// A guest program's unterminated output before the kernel's line
		// (captured: deb73-boot-clean.log).
		"KMSG:6,4,0,-;BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff]  device reserved[    4.372940] zcsuite: spec-start 1 [It] boots cleanly\r": "zcsuite: spec-start 1 [It] boots cleanly",
		"": "",
	} {
		if got := StripTimestamp(in); got != want {
			t.Errorf("StripTimestamp(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTaintFlags(t *testing.T) {
	for in, want := range map[string]string{
		"[    2.783797] CPU: 1 UID: 0 PID: 104 Comm: payload Not tainted 7.3-cloud-amd64 #1 PREEMPT(lazy)  Debian 7.3~rc7-1~exp1 ": "",
		"CPU: 0 UID: 0 PID: 110 Comm: payload Tainted: G        W           7.3.0-rc7 #1 PREEMPT(lazy) ":                           "W",
		"CPU: 1 UID: 0 PID: 9 Comm: kworker Tainted: G      D W    L      7.3.0 #1":                                                "DWL",
		"      Tainted: G      DW         7.3.0 #1":                                                                                "DW",
		"Tainted: [W]=WARN, [L]=SOFTLOCKUP":                                                                                        "WL",
		"Tainted: [D]=DIE":                                                                                                         "D",
		"Kernel panic - not syncing: sysrq triggered crash":                                                                        "",
	} {
		if got := TaintFlags(in); got != want {
			t.Errorf("TaintFlags(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k := KindUnknown; k < numKinds; k++ {
		back, err := ParseKind(k.String())
		if err != nil || back != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), back, err)
		}
	}
	if s := Kind(99).String(); s != "Kind(99)" {
		t.Errorf("Kind(99).String() = %q", s)
	}
}

// TestTitleCleaning: run-specific words (addresses, values) are cut from
// titles.
func TestTitleCleaning(t *testing.T) {
	for in, want := range map[string]string{
		"BUG: Bad rss-counter state mm:00000000b2ab6bb2 type:MM_FILEPAGES val:-1":  "BUG: Bad rss-counter state",
		"Kernel panic - not syncing: Attempted to kill init!  exitcode=0x00000100": "Kernel panic - not syncing: Attempted to kill init!",
	} {
		if got := cleanTitle(in); got != want {
			t.Errorf("cleanTitle(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReportEnds: a report stops at its own end, not at the next marker or
// the end of the log.
func TestReportEnds(t *testing.T) {
	for name, last := range map[string]string{
		"dbg-warning":                   `^-+\[ end trace [0-9a-f]+ \]-+$`,
		"dbg-kasan-slab-use-after-free": `^=+$`,
		"dbg-kfence-use-after-free":     `^=+$`,
		"dbg-ubsan-array-index":         `^-+\[ end trace \]-+$`,
		"dbg-hung-task":                 `^ </TASK>$|^INFO: lockdep is turned off\.$`,
		"deb73-hung-task-fuse":          `^ </TASK>$`,
		"deb73-sysrq-crash":             `^Kernel Offset: `,
		"dbg-soft-lockup":               `^ </TASK>$`,
	} {
		sp := Scan(readLog(t, filepath.Join(fixtureDir, name+".log")))
		if len(sp) == 0 {
			t.Errorf("%s: no splat", name)
			continue
		}
		lines := strings.Split(sp[0].Report, "\n")
		if l := lines[len(lines)-1]; !regexp.MustCompile(last).MatchString(l) {
			t.Errorf("%s: report ends with %q, want a line matching %s", name, l, last)
		}
		if strings.Contains(sp[0].Report, "zcsuite:") {
			t.Errorf("%s: report swallowed a marker line", name)
		}
	}
}

// TestRepeats: a report repeated within one spec is returned once, but the
// same report in the next spec (after a marker) is returned again.
func TestRepeats(t *testing.T) {
	log := readLog(t, filepath.Join(fixtureDir, "dbg-warning.log"))
	twice := append(append([]string{}, log...), log...)
	if got := Scan(twice); len(got) != 2 || got[1].Line != len(log)+got[0].Line {
		t.Errorf("same WARNING in two specs: %d splats %+v, want 2", len(got), got)
	}
	var unmarked []string
	for _, l := range twice {
		if !strings.Contains(l, "zcsuite:") {
			unmarked = append(unmarked, l)
		}
	}
	if got := Scan(unmarked); len(got) != 1 {
		t.Errorf("same WARNING twice with no marker between: %d splats, want 1", len(got))
	}
}
