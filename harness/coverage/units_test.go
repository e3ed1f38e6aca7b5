package coverage

import (
	"context"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// A tracefile as lcov 1.16 writes it (FN without end line), with the same
// file twice, as lcov -a leaves it unmerged when asked to.
const trace = `TN:
SF:/t/fs/fuse/dev_uring.c
FN:10,fuse_uring_cmd
FN:30,fuse_uring_add_queue
FNDA:4,fuse_uring_cmd
FNDA:0,fuse_uring_add_queue
FNF:2
FNH:1
BRDA:12,0,0,3
BRDA:12,0,1,1
BRDA:32,0,0,-
BRDA:32,0,1,-
DA:10,4
DA:12,4
DA:13,1
DA:30,0
DA:32,0
LF:5
LH:3
end_of_record
SF:/t/fs/fuse/dev_uring.c
FNDA:2,fuse_uring_add_queue
BRDA:32,0,0,2
DA:30,2
DA:32,2
end_of_record
`

func TestParseTracefile(t *testing.T) {
	files, err := ParseTracefile(strings.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("%d files, want 1 (the two records merged)", len(files))
	}
	f := files[0]
	if want := map[int]int64{10: 4, 12: 4, 13: 1, 30: 2, 32: 2}; !reflect.DeepEqual(f.Lines, want) {
		t.Errorf("lines %v, want %v", f.Lines, want)
	}
	if len(f.Funcs) != 2 || f.Funcs[0].Name != "fuse_uring_cmd" || f.Funcs[0].Hits != 4 || f.Funcs[1].Hits != 2 {
		t.Errorf("funcs %+v", f.Funcs)
	}
	if got := f.Counts(); got != (Counts{LinesHit: 5, Lines: 5, BranchesHit: 3, Branches: 4}) {
		t.Errorf("counts %+v", got)
	}
	// fuse_uring_cmd runs to line 29 (the next function's start - 1).
	if got := f.FuncCounts(0); got != (Counts{LinesHit: 3, Lines: 3, BranchesHit: 2, Branches: 2}) {
		t.Errorf("fuse_uring_cmd %+v", got)
	}
	if got := f.FuncCounts(1); got != (Counts{LinesHit: 2, Lines: 2, BranchesHit: 1, Branches: 2}) {
		t.Errorf("fuse_uring_add_queue %+v", got)
	}
}

func TestParseTracefileEndLines(t *testing.T) {
	files, err := ParseTracefile(strings.NewReader("SF:a.c\nFN:1,3,f\nFN:10,12,g\nDA:2,1\nDA:5,0\nDA:11,0\nend_of_record\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Line 5 is between f and g: in neither.
	if got := files[0].FuncCounts(0); got.Lines != 1 || got.LinesHit != 1 {
		t.Errorf("f %+v, want lines 1/1", got)
	}
	if got := files[0].FuncCounts(1); got.Lines != 1 || got.LinesHit != 0 {
		t.Errorf("g %+v, want lines 0/1", got)
	}
}

func TestParseTracefileBad(t *testing.T) {
	for _, in := range []string{"DA:1,1\n", "SF:a\nDA:x,1\n", "SF:a\nBRDA:1,2,3\n", "SF:a\nFN:1\n"} {
		if _, err := ParseTracefile(strings.NewReader(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestPatchCoverage(t *testing.T) {
	f := &File{Lines: map[int]int64{10: 3, 11: 0, 42: 1}}
	src := func(string) []string {
		return strings.Split("\n\n\n\n\n\n\n\n\nif (a && b)\nreturn -EPERM;\nc();", "\n")
	}
	d := patchCoverage("A..B", map[string][]int{"fs/fuse/dev_uring.c": {10, 11, 12, 42}, "io_uring/rsrc.c": {6}}, map[string]*File{"fs/fuse/dev_uring.c": f}, src)
	var order []string
	for _, l := range d.Lines {
		h := "-"
		if l.Hits != nil {
			h = strings.Repeat("+", int(*l.Hits))
		}
		order = append(order, l.File[len(l.File)-3:]+":"+string(rune('0'+l.Line/10))+string(rune('0'+l.Line%10))+"="+h)
	}
	// Uncovered first, then hit, then no counter; file and line order in each.
	want := "g.c:11= g.c:10=+++ g.c:42=+ g.c:12=- c.c:06=-"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("order %s, want %s", got, want)
	}
	if d.Instrumented != 3 || d.Hit != 2 {
		t.Errorf("instrumented %d hit %d, want 3 and 2", d.Instrumented, d.Hit)
	}
	if d.Lines[0].Text != "return -EPERM;" {
		t.Errorf("text %q", d.Lines[0].Text)
	}
}

func TestErrorLines(t *testing.T) {
	src := `static int f(void)
{
	int err = -EINVAL;		/* 3 */
	if (x)
		return -EPERM;		/* 5 */
	if (err == -ENOENT)		/* 6: a comparison */
		return 0;
	p = ERR_PTR(-ENOMEM);		/* 8 */
	/* return -EIO; in a comment */
	// ret = -EAGAIN;
	if (y != -EBUSY)		/* 11: a comparison */
		ret = -EOPNOTSUPP;	/* 12 */
	return -err;			/* 13: not an errno constant */
	io_uring_cmd_done(cmd, -ENOTCONN, flags);	/* 14: a completion */
	return -EIOCBQUEUED;		/* 15: completes later, no error */
}`
	var got []int
	for _, l := range ErrorLines([]byte(src)) {
		got = append(got, l.Line)
	}
	if want := []int{3, 5, 8, 12, 14}; !reflect.DeepEqual(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
}

func TestCheckDiff(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@invalid", "-c", "commit.gpgsign=false"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	git("init", "-q")
	git("commit", "-q", "--allow-empty", "-m", "one")
	git("tag", "one")
	git("commit", "-q", "--allow-empty", "-m", "two")
	ctx := context.Background()
	if err := CheckDiff(ctx, dir, "one..HEAD"); err != nil {
		t.Errorf("one..HEAD: %v", err)
	}
	for _, bad := range []string{"one..nosuch", "one", "..HEAD", "one...HEAD"} {
		if err := CheckDiff(ctx, dir, bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if err := CheckDiff(ctx, t.TempDir(), "one..HEAD"); err == nil {
		t.Error("not a git tree: no error")
	}
}
