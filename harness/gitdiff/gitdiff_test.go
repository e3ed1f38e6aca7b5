package gitdiff

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const diff = `diff --git a/fs/fuse/dev_uring.c b/fs/fuse/dev_uring.c
index 1111111..2222222 100644
--- a/fs/fuse/dev_uring.c
+++ b/fs/fuse/dev_uring.c
@@ -10,2 +10,3 @@ static int x(void)
-	if (a)
-		return -EINVAL;
+	if (a && b)
+		return -EPERM;
+	c();
@@ -40,0 +42 @@ int y(void)
+	d();
@@ -60 +62,0 @@ int z(void)
-	gone();
diff --git a/io_uring/rsrc.c b/io_uring/rsrc.c
--- a/io_uring/rsrc.c
+++ b/io_uring/rsrc.c
@@ -5,3 +5,4 @@
 	ctx1;
+	added();
 	ctx2;
 	ctx3;
diff --git a/fs/fuse/old.c b/fs/fuse/old.c
deleted file mode 100644
--- a/fs/fuse/old.c
+++ /dev/null
@@ -1,2 +0,0 @@
-a
-b
`

func TestParse(t *testing.T) {
	got, err := Parse(strings.NewReader(diff))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{"fs/fuse/dev_uring.c": {10, 11, 12, 42}, "io_uring/rsrc.c": {6}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// The -U0 form git diff writes for Lines: a pure deletion adds nothing.
func TestParseNoContext(t *testing.T) {
	out := "diff --git a/fs/x.c b/fs/x.c\n--- a/fs/x.c\n+++ b/fs/x.c\n@@ -3,0 +4,2 @@ f\n+a\n+b\n@@ -10 +12 @@\n-c\n+d\n@@ -20,3 +22,0 @@\n-e\n-f\n-g\n"
	got, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]int{"fs/x.c": {4, 5, 12}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// Lines on a real repository: the lines the second commit adds, and a
// clear error for a range git does not know.
func TestLines(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.email=t@t", "-c", "user.name=t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(dir, "x.c"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	write("a\nb\nc\n")
	git("add", "x.c")
	git("commit", "-q", "-m", "one")
	write("a\nB\nc\nd\n")
	git("commit", "-q", "-am", "two")
	got, err := Lines(context.Background(), dir, "HEAD~1..HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]int{"x.c": {2, 4}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := Lines(context.Background(), dir, "HEAD~1..nosuch"); err == nil || !strings.Contains(err.Error(), "git diff HEAD~1..nosuch") {
		t.Errorf("unknown revision: %v", err)
	}
	if _, err := Lines(context.Background(), dir, "HEAD"); err == nil || !strings.Contains(err.Error(), "want A..B") {
		t.Errorf("no range: %v", err)
	}
}
