// Package interrupt turns the first SIGINT (Ctrl-C) or SIGTERM a command
// receives into a request to stop cleanly (cmd/train finishes its step and
// writes a checkpoint, cmd/sample stops and writes nothing); the second one
// gets Go's default behaviour and ends the process at once.
package interrupt

import (
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/godiffusion/diffusion-models/diffusion"
)

// ExitCode is the exit status of a command stopped by a signal: 128 + 2
// (SIGINT), as shells report a process that Ctrl-C ended.
const ExitCode = 130

// Notify and Stop register and unregister the channel that receives the
// interrupting signals: os/signal's, for SIGINT and SIGTERM. Tests replace
// them to deliver signals by hand.
var (
	Notify = func(c chan<- os.Signal) { signal.Notify(c, os.Interrupt, syscall.SIGTERM) }
	Stop   = signal.Stop
)

// Watch starts watching for the interrupting signals. At the first one it
// unregisters (so that a second one ends the process at once: Go's default
// for SIGINT and SIGTERM), calls onSignal with it (if not nil) and closes
// stop. release unregisters and waits for the watcher to end; call it when
// the work that stop guards is over. After release returns, onSignal is
// never called.
func Watch(onSignal func(os.Signal)) (stop <-chan struct{}, release func()) {
	sigs := make(chan os.Signal, 1)
	stopped := make(chan struct{})
	done := make(chan struct{})
	exited := make(chan struct{})
	Notify(sigs)
	go func() {
		defer close(exited)
		select {
		case sig := <-sigs:
			Stop(sigs)
			if onSignal != nil {
				onSignal(sig)
			}
			close(stopped)
		case <-done:
		}
	}()
	var once sync.Once
	return stopped, func() {
		once.Do(func() {
			Stop(sigs)
			close(done)
			<-exited
		})
	}
}

// Error is the error of a command stopped by a signal: its message is Msg,
// and it wraps [diffusion.ErrInterrupted], so that [ExitStatus] gives
// [ExitCode].
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Unwrap returns diffusion.ErrInterrupted.
func (e *Error) Unwrap() error { return diffusion.ErrInterrupted }

// ExitStatus is the exit status of a command whose run returned err (not
// nil): [ExitCode] for an interrupt (an error wrapping
// diffusion.ErrInterrupted), 1 for any other error.
func ExitStatus(err error) int {
	if errors.Is(err, diffusion.ErrInterrupted) {
		return ExitCode
	}
	return 1
}

// Program is how the user ran the command named name, for a command line
// they can copy: os.Args[0] as given, or "go run ./cmd/NAME" when it is a
// binary that go run (or go test) built in a temporary folder.
func Program(name string) string {
	p := os.Args[0]
	if p == "" || strings.Contains(p, string(filepath.Separator)+"go-build") {
		return "go run ./cmd/" + name
	}
	return Quote(p)
}

var plain = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// Quote quotes one word for a POSIX shell (sh, bash, zsh): unchanged when
// it holds only characters that the shell takes literally, else in single
// quotes (a single quote inside becomes the four characters ' \ ' ').
func Quote(s string) string {
	if plain.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Command joins a program (already quoted, see [Program]) and its
// arguments, each quoted with [Quote], into one shell command line.
func Command(program string, args []string) string {
	words := []string{program}
	for _, a := range args {
		words = append(words, Quote(a))
	}
	return strings.Join(words, " ")
}
