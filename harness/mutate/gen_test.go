package mutate

import (
	"strings"
	"testing"
)

// body wraps statements in a function so the generator considers them.
func body(stmts ...string) string {
	return "static int f(struct q *q, int n)\n{\n" + strings.Join(stmts, "\n") + "\n}\n"
}

func news(ms []Mutant, r Rule) []string {
	var out []string
	for _, m := range ms {
		if m.Rule == r {
			out = append(out, strings.TrimSpace(m.New))
		}
	}
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		rule Rule
		want []string
	}{
		{"if to 0", "\tif (!q->ready)", RuleIfFalse, []string{"if (0)"}},
		{"else if to 0", "\t} else if (n > 2) {", RuleIfFalse, []string{"} else if (0) {"}},
		{"or operands", "\tif (n == 0 || n > q->max)", RuleOperand, []string{"if (0 || n > q->max)", "if (n == 0 || 0)"}},
		{"and operands", "\tif (q->a && !q->b)", RuleOperand, []string{"if (1 && !q->b)", "if (q->a && 1)"}},
		{"nested operand stays whole", "\tif ((a || b) && c)", RuleOperand, []string{"if (1 && c)", "if ((a || b) && 1)"}},
		{"compare >= and <", "\tif (n >= q->max || n < 1)", RuleCompare, []string{"if (n > q->max || n < 1)", "if (n >= q->max || n <= 1)"}},
		{"compare > and <=", "\twhile (n > 0 && n <= 8)", RuleCompare, []string{"while (n >= 0 && n <= 8)", "while (n > 0 && n < 8)"}},
		{"arrows and shifts are not comparisons", "\tq->v = n << 2 >> 1;", RuleCompare, nil},
		{"returned errno", "\t\treturn -EINVAL;", RuleErrno, []string{"return -EFAULT;"}},
		{"errno in ERR_PTR", "\t\treturn ERR_PTR(-ENOMEM);", RuleErrno, []string{"return ERR_PTR(-EINVAL);"}},
		{"errno assigned", "\terr = -EBUSY;", RuleErrno, []string{"err = -EINVAL;"}},
		{"unused call dropped", "\tkfree(q->buf);", RuleCallDrop, []string{";"}},
		{"member call dropped", "\tq->ops->release(q);", RuleCallDrop, []string{";"}},
		{"used call kept", "\tn = kfree(q->buf);", RuleCallDrop, nil},
		{"return not a call", "\treturn f(q);", RuleCallDrop, nil},
		{"call in an expression kept", "\tf(q) + g(q);", RuleCallDrop, nil},
		{"declaring macro kept", "\tLIST_HEAD(list);", RuleCallDrop, nil},
		{"assignment to 0", "\tq->len = n * 2;", RuleAssignRHS, []string{"q->len = 0;"}},
		{"array assignment", "\tq->slot[n] = q;", RuleAssignRHS, []string{"q->slot[n] = 0;"}},
		{"already 0", "\tq->len = 0;", RuleAssignRHS, nil},
		{"already false", "\tq->on = false;", RuleAssignRHS, nil},
		{"compound assignment kept", "\tq->len += n;", RuleAssignRHS, nil},
		{"comparison is not assignment", "\tok = n == 2;", RuleAssignRHS, []string{"ok = 0;"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := Generate("x.c", []byte(body(tc.line)))
			equal(t, tc.line, news(ms, tc.rule), tc.want)
			for _, m := range ms {
				if m.Line != 3 || m.Func != "f" || m.Old != tc.line {
					t.Errorf("mutant %+v: want line 3 of f", m)
				}
			}
		})
	}
}

// Lines the generator must leave alone.
func TestUntouched(t *testing.T) {
	for _, tc := range []struct{ name, src string }{
		{"line comment", body("\t// if (n > 2) return -EINVAL;")},
		{"block comment", body("\t/*", "\t * if (n > 2)", "\t *\treturn -EINVAL;", "\t */")},
		{"comment sharing a line", body("\tx = 1; /* if (a) return -EINVAL; */")},
		{"preprocessor", body("#if FOO > 2", "#define BAR(x) if (x) return -EINVAL; \\", "\tfoo(x);", "#endif")},
		{"macro outside functions", "#define CHECK(x) \\\n\tif ((x) > 2) \\\n\t\treturn -EINVAL\n"},
		{"declarations", body("\tint n = q->len;", "\tstruct q *p = f(q);", "\tunsigned int i = 0;", "\tconst struct ops *o = q->ops;", "\tsize_t sz = n * 2;")},
		{"global initialiser", "static int limit = 8;\nstatic bool on = true;\n"},
		{"string contents", body("\tn = strlen(\"a < b\");")},
		{"continuation of a call", body("\terr = f(q,", "\t\tg(n));")},
		{"multi-line condition", body("\tif (n > 2 ||", "\t    n < 0)", "\t\treturn 1;")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range Generate("x.c", []byte(tc.src)) {
				if tc.name == "string contents" && m.Rule == RuleAssignRHS {
					continue // the assignment itself is fair game; its string is not
				}
				if tc.name == "multi-line condition" && (m.Line == 5 || m.Rule == RuleCompare) {
					continue // "return 1;" is its own statement, and a comparison is whole on its line
				}
				t.Errorf("unexpected mutant at line %d: %s (%s)", m.Line, m.Diff(), m.Rule)
			}
		})
	}
}

func TestApply(t *testing.T) {
	src := []byte(body("\tif (n > 2)", "\t\treturn -EINVAL;", "\treturn 0;"))
	ms := Generate("x.c", src)
	if len(ms) == 0 {
		t.Fatal("no mutants")
	}
	for _, m := range ms {
		out, err := m.Apply(src)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Split(string(out), "\n")[m.Line-1]; got != m.New {
			t.Errorf("%s: line %d is %q", m.ID, m.Line, got)
		}
		if strings.Count(string(out), "\n") != strings.Count(string(src), "\n") {
			t.Errorf("%s: line count changed", m.ID)
		}
	}
	changed := []byte(strings.Replace(string(src), "n > 2", "n > 3", 1))
	if _, err := ms[0].Apply(changed); err == nil {
		t.Error("Apply on a changed line succeeded")
	}
	// IDs are stable and distinct.
	again := Generate("x.c", src)
	seen := map[string]bool{}
	for i, m := range ms {
		if again[i].ID != m.ID || seen[m.ID] {
			t.Errorf("id %s unstable or repeated", m.ID)
		}
		seen[m.ID] = true
	}
}
