package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// qmpConn is a minimal QEMU Machine Protocol client: one command at a
// time, asynchronous events skipped.
type qmpConn struct {
	mu   sync.Mutex
	conn net.Conn
	rd   *bufio.Reader
}

// QMPError is an error QEMU answered a command with.
type QMPError struct {
	Command string
	Class   string
	Desc    string
}

func (e *QMPError) Error() string {
	return fmt.Sprintf("qemu: QMP %s: %s: %s", e.Command, e.Class, e.Desc)
}

func dialQMP(ctx context.Context, path string) (*qmpConn, error) {
	var d net.Dialer
	var conn net.Conn
	var err error
	// QEMU creates the socket while it starts; retry for a few seconds.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if conn, err = d.DialContext(ctx, "unix", path); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("qemu: QMP socket: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	q := &qmpConn{conn: conn, rd: bufio.NewReaderSize(conn, 64<<10)}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := q.rd.ReadBytes('\n'); err != nil { // the greeting
		conn.Close()
		return nil, fmt.Errorf("qemu: QMP greeting: %w", err)
	}
	conn.SetDeadline(time.Time{})
	if _, err := q.execute("qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

// execute runs one command and returns its "return" value.
func (q *qmpConn) execute(cmd string, args any) (json.RawMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	q.conn.SetDeadline(time.Now().Add(30 * time.Second))
	defer q.conn.SetDeadline(time.Time{})
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qemu: QMP %s: %w", cmd, err)
	}
	for {
		line, err := q.rd.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("qemu: QMP %s: %w", cmd, err)
		}
		var resp struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
			Event string `json:"event"`
		}
		if err := json.Unmarshal(line, &resp); err != nil {
			return nil, fmt.Errorf("qemu: QMP %s: bad reply %q: %w", cmd, line, err)
		}
		switch {
		case resp.Event != "":
			continue
		case resp.Error != nil:
			return nil, &QMPError{Command: cmd, Class: resp.Error.Class, Desc: resp.Error.Desc}
		default:
			return resp.Return, nil
		}
	}
}

func (q *qmpConn) close() { q.conn.Close() }

type migrateStatus struct {
	Status      string `json:"status"`
	ErrorDesc   string `json:"error-desc"`
	TotalTimeMs int64  `json:"total-time"`
	RAM         struct {
		Transferred int64 `json:"transferred"`
	} `json:"ram"`
}

func (q *qmpConn) migrateStatus() (migrateStatus, error) {
	var st migrateStatus
	b, err := q.execute("query-migrate", nil)
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	return st, err
}

func (q *qmpConn) runStatus() (string, error) {
	var st struct {
		Status string `json:"status"`
	}
	b, err := q.execute("query-status", nil)
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	return st.Status, err
}

// qmp returns the VM's QMP connection (WithQMP or WithIncoming).
func (vm *VM) qmp(ctx context.Context) (*qmpConn, error) {
	vm.qmpOnce.Do(func() {
		if vm.qmpPath == "" {
			vm.qmpErr = errors.New("qemu: the VM was started without QMP")
			return
		}
		vm.qmpc, vm.qmpErr = dialQMP(ctx, vm.qmpPath)
	})
	return vm.qmpc, vm.qmpErr
}

// SaveState stops the guest, writes its whole state (RAM and devices) to
// path, and lets it run on. A VM started WithIncoming with that file open
// resumes from that point. It returns the state's size.
func (vm *VM) SaveState(ctx context.Context, path string) (int64, error) {
	q, err := vm.qmp(ctx)
	if err != nil {
		return 0, err
	}
	tmp := path + ".part"
	os.Remove(tmp)
	// The default bandwidth cap (128 MiB/s) would make saving the slowest
	// part of a warm run; the state goes to a local file.
	if _, err := q.execute("migrate-set-parameters", map[string]any{"max-bandwidth": int64(8) << 30}); err != nil {
		return 0, err
	}
	if _, err := q.execute("stop", nil); err != nil {
		return 0, err
	}
	// cont, whatever happens: the guest must not stay paused.
	defer q.execute("cont", nil)
	if _, err := q.execute("migrate", map[string]any{"uri": "exec:cat > " + shellQuote([]string{tmp})}); err != nil {
		return 0, err
	}
	for {
		st, err := q.migrateStatus()
		if err != nil {
			return 0, err
		}
		switch st.Status {
		case "completed":
			fi, err := os.Stat(tmp)
			if err != nil {
				return 0, fmt.Errorf("qemu: saved state: %w", err)
			}
			if err := os.Rename(tmp, path); err != nil {
				return 0, fmt.Errorf("qemu: saved state: %w", err)
			}
			return fi.Size(), nil
		case "failed", "cancelled":
			os.Remove(tmp)
			return 0, fmt.Errorf("qemu: saving the VM state %s: %s", st.Status, st.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			os.Remove(tmp)
			return 0, ctx.Err()
		case <-vm.exited:
			os.Remove(tmp)
			return 0, errors.New("qemu: QEMU exited while saving the VM state")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// resumeIncoming waits until QEMU has loaded the state given WithIncoming
// and starts the guest (a state saved from a stopped guest loads paused).
func (vm *VM) resumeIncoming(ctx context.Context) error {
	q, err := vm.qmp(ctx)
	if err != nil {
		return err
	}
	for {
		st, err := q.migrateStatus()
		if err != nil {
			return err
		}
		switch st.Status {
		case "completed":
			run, err := q.runStatus()
			if err != nil {
				return err
			}
			if run != "running" {
				if _, err := q.execute("cont", nil); err != nil {
					return err
				}
			}
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("qemu: loading the VM state %s: %s", st.Status, strings.TrimSpace(st.ErrorDesc))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-vm.exited:
			return errors.New("qemu: QEMU exited while loading the VM state")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
