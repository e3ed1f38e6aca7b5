package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zcsuite/zcsuite/harness/series"
)

// Interrupted is the cause of a run's context when a signal stopped it.
type Interrupted struct {
	Signal syscall.Signal
	// Code is the exit code: 128 + the signal, or series.ExitAbort under
	// -bisect (an interruption says nothing about the commit).
	Code int
}

func (i *Interrupted) Error() string {
	return fmt.Sprintf("interrupted by %s", signalName(i.Signal))
}

// ExitCode is the process exit code the interruption asks for.
func (i *Interrupted) ExitCode() int { return i.Code }

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

// cleanupGrace is how long a run may take, after the first signal, to stop
// its VMs and write its reports; then (or at a second signal) the process
// exits at once. Children die with it (QEMU is started with a parent-death
// signal).
const cleanupGrace = 8 * time.Second

// WithSignals returns a context cancelled, with an *Interrupted cause, by
// the first SIGINT, SIGTERM or SIGHUP. stop releases the signals.
func WithSignals(parent context.Context, bisect bool, stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		var first *Interrupted
		var grace <-chan time.Time
		for {
			select {
			case <-done:
				return
			case s := <-ch:
				sig := s.(syscall.Signal)
				if first != nil {
					fmt.Fprintf(stderr, "zcsuite: %s again: exiting now\n", signalName(sig))
					os.Exit(first.Code)
				}
				first = &Interrupted{Signal: sig, Code: 128 + int(sig)}
				if bisect {
					first.Code = series.ExitAbort
				}
				fmt.Fprintf(stderr, "zcsuite: %s: stopping every VM and writing the reports\n", signalName(sig))
				cancel(first)
				grace = time.After(cleanupGrace)
			case <-grace:
				fmt.Fprintf(stderr, "zcsuite: %v: the reports were not written within %s; exiting\n", first, cleanupGrace)
				os.Exit(first.Code)
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}
