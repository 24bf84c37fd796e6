package interrupt

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/godiffusion/diffusion-models/diffusion"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"out/g8":        "out/g8",
		"--lr=0.001":    "--lr=0.001",
		"":              "''",
		"my run":        "'my run'",
		"it's":          `'it'\''s'`,
		"a thick 7":     "'a thick 7'",
		"$HOME":         "'$HOME'",
		"ünïcode":       "'ünïcode'",
		"semi;colon":    "'semi;colon'",
		"star*":         "'star*'",
		"tilde~":        "'tilde~'",
		"back\\slash":   `'back\slash'`,
		"new\nline":     "'new\nline'",
		"user@host:8,9": "user@host:8,9",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := Command("./train", []string{"--out", "my run", "--resume"}); got != "./train --out 'my run' --resume" {
		t.Errorf("Command: %s", got)
	}
}

func TestExitStatus(t *testing.T) {
	if got := ExitStatus(&Error{Msg: "interrupted"}); got != ExitCode {
		t.Errorf("ExitStatus(Error) = %d, want %d", got, ExitCode)
	}
	if got := ExitStatus(fmt.Errorf("run: %w", diffusion.ErrInterrupted)); got != ExitCode {
		t.Errorf("ExitStatus(wrapped ErrInterrupted) = %d, want %d", got, ExitCode)
	}
	if got := ExitStatus(errors.New("--steps must be > 0")); got != 1 {
		t.Errorf("ExitStatus(other) = %d, want 1", got)
	}
}

// TestWatch delivers a signal by hand: onSignal sees it, stop closes, and
// the channel is unregistered at once (so that the next signal gets the
// default behaviour) and again by release, which waits for the watcher.
func TestWatch(t *testing.T) {
	notify, stop := Notify, Stop
	defer func() { Notify, Stop = notify, stop }()
	var registered chan<- os.Signal
	stops := 0
	Notify = func(c chan<- os.Signal) { registered = c }
	Stop = func(c chan<- os.Signal) {
		if c == registered {
			stops++
		}
	}

	// Released without a signal: onSignal is never called.
	st, release := Watch(func(os.Signal) { t.Error("onSignal called without a signal") })
	release()
	release() // idempotent
	select {
	case <-st:
		t.Error("stop closed without a signal")
	default:
	}
	if stops != 1 {
		t.Errorf("release unregistered %d times, want 1", stops)
	}

	stops = 0
	got := make(chan os.Signal, 1)
	st, release = Watch(func(s os.Signal) { got <- s })
	registered <- syscall.SIGTERM
	<-st
	if s := <-got; s != syscall.SIGTERM {
		t.Errorf("onSignal got %v, want SIGTERM", s)
	}
	if stops != 1 {
		t.Errorf("unregistered %d times at the first signal, want 1", stops)
	}
	release()
}
