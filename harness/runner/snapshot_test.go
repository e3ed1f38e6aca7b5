package runner

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
)

// writeState stores content as s's saved state, with metadata as save
// writes it.
func writeState(t *testing.T, s *snapshotStore, content []byte) {
	t.Helper()
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	b, _ := json.Marshal(snapshotMeta{Key: s.key, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:])})
	if err := os.WriteFile(s.statePath(), content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.metaPath(), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// logLines collects what a store logs.
type logLines struct {
	mu sync.Mutex
	l  []string
}

func (l *logLines) logf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, fmt.Sprintf(format, v...))
}

// loadBoth has two VMs load the state at once, as two lanes do, and
// returns what each read from the file it was given (nil: no state, it
// boots).
func loadBoth(s *snapshotStore) [2][]byte {
	var got [2][]byte
	var wg sync.WaitGroup
	for i, name := range []string{"main-1", "main-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, f, ok := s.load(name); ok {
				got[i], _ = io.ReadAll(f)
				got[i] = append([]byte{}, got[i]...)
				f.Close()
			}
		}()
	}
	wg.Wait()
	return got
}

func TestSnapshotStoreServesAnIntactStateToConcurrentLoaders(t *testing.T) {
	var log logLines
	s := newSnapshotStore(t.TempDir(), log.logf, "qemu", "kernel k")
	state := bytes.Repeat([]byte("guest memory "), 4096)
	writeState(t, s, state)
	got := loadBoth(s)
	if !bytes.Equal(got[0], state) || !bytes.Equal(got[1], state) || len(log.l) != 0 {
		t.Fatalf("intact state: read %d and %d of %d bytes, lines %q", len(got[0]), len(got[1]), len(state), log.l)
	}
}

func TestSnapshotStoreDropsATruncatedStateOnceAndBothLoadersBoot(t *testing.T) {
	var log logLines
	s := newSnapshotStore(t.TempDir(), log.logf, "qemu", "kernel k")
	state := bytes.Repeat([]byte("guest memory "), 4096)
	writeState(t, s, state)
	if err := os.Truncate(s.statePath(), int64(len(state)/2)); err != nil {
		t.Fatal(err)
	}
	got := loadBoth(s)
	if got[0] != nil || got[1] != nil {
		t.Fatalf("a truncated state was served (%d and %d bytes)", len(got[0]), len(got[1]))
	}
	if len(log.l) != 1 || !strings.Contains(log.l[0], "not the 53248 it was saved with; dropped it") {
		t.Fatalf("want one line dropping the state, got %q", log.l)
	}
	for _, p := range []string{s.statePath(), s.metaPath()} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
	// Both boot; exactly one of them saves the new state.
	if !s.claim() || s.claim() {
		t.Fatal("claim: want the first booted VM only")
	}
}

func TestSnapshotStoreDropsAStateWithOtherBytesOnce(t *testing.T) {
	var log logLines
	s := newSnapshotStore(t.TempDir(), log.logf, "qemu", "kernel k")
	state := bytes.Repeat([]byte("guest memory "), 4096)
	writeState(t, s, state)
	bad := append([]byte{}, state...)
	bad[100] ^= 1
	os.WriteFile(s.statePath(), bad, 0o644)
	if got := loadBoth(s); got[0] != nil || got[1] != nil || len(log.l) != 1 || !strings.Contains(log.l[0], "its sha256 is") {
		t.Fatalf("flipped bit: served %d and %d bytes, lines %q", len(got[0]), len(got[1]), log.l)
	}
}

func TestSnapshotStoreDropKeepsAStateSavedSince(t *testing.T) {
	var log logLines
	s := newSnapshotStore(t.TempDir(), log.logf, "qemu", "kernel k")
	writeState(t, s, []byte("first boot"))
	// Both lanes load the state; QEMU refuses it in both.
	got := loadBoth(s)
	if got[0] == nil || got[1] == nil {
		t.Fatal("the state was not served")
	}
	if !s.drop("main-1") {
		t.Fatal("the first failed resume did not drop the state")
	}
	// main-1 boots and saves a new state before main-2's failure is seen.
	writeState(t, s, []byte("second boot"))
	if s.drop("main-2") {
		t.Fatal("main-2 dropped the state main-1 saved after it")
	}
	if _, f, ok := s.load("destructive-1"); !ok {
		t.Fatal("the new state does not load")
	} else {
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != "second boot" {
			t.Fatalf("loaded %q", b)
		}
	}
}

func TestSnapshotStoreFileSurvivesADrop(t *testing.T) {
	s := newSnapshotStore(t.TempDir(), t.Logf, "qemu", "kernel k")
	writeState(t, s, []byte("a state"))
	_, f, ok := s.load("main-1")
	if !ok {
		t.Fatal("the state was not served")
	}
	defer f.Close()
	if !s.drop("main-1") {
		t.Fatal("not dropped")
	}
	// The VM that was given the file still reads all of it.
	if b, err := io.ReadAll(f); err != nil || string(b) != "a state" {
		t.Fatalf("read %q, %v after the drop", b, err)
	}
}
