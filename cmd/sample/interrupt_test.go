package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/internal/interrupt"
	"github.com/godiffusion/diffusion-models/internal/interrupt/interrupttest"
)

// TestSampleInterrupt delivers SIGINT through the injectable hook during
// sampling: the run must stop with the interrupt error (exit status 130)
// and write nothing, not even a temporary file; the watcher must be
// unregistered when run returns. An uninterrupted run then writes both
// outputs.
func TestSampleInterrupt(t *testing.T) {
	hub := interrupttest.Install(t)

	dir := t.TempDir()
	trainTiny(t, dir)
	outDir := t.TempDir()
	base := filepath.Join(outDir, "samples")
	args := []string{"--model-path", dir, "--num-samples", "100", "--sampler", "ddim", "--sample-steps", "10", "--out", base, "--quiet"}
	for _, at := range []int{3, 9} { // during sampling, and at its last step
		var stderr cmdtest.SyncBuffer
		steps := 0
		onStep = func(batch, k int, _ float64, _, _ *tensors.Tensor) {
			steps++
			if k != at {
				return
			}
			hub.Send(syscall.SIGINT)
			for !strings.Contains(stderr.String(), "nothing will be written") {
				time.Sleep(time.Millisecond)
			}
		}
		err := run(args, &bytes.Buffer{}, &stderr)
		onStep = nil
		if !errors.Is(err, diffusion.ErrInterrupted) || interrupt.ExitStatus(err) != 130 {
			t.Fatalf("step %d: error %v (exit status %d), want the interrupt (130)\n%s", at, err, interrupt.ExitStatus(err), stderr.String())
		}
		if err.Error() != "interrupted; nothing written" {
			t.Errorf("step %d: error %q, want %q (main prints it after \"sample: \")", at, err, "interrupted; nothing written")
		}
		if steps != at+1 {
			t.Errorf("step %d: sampling ran %d steps, want it to stop after step %d", at, steps, at+1)
		}
		want := "sample: interrupt: stopping after the current step; nothing will be written (press Ctrl-C again to abort at once)\n"
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q lacks %q", stderr.String(), want)
		}
		if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
			t.Errorf("step %d: the interrupted run left %d files in the output folder (%s…)", at, len(entries), entries[0].Name())
		}
		if n := hub.Registered(); n != 0 {
			t.Errorf("%d channels still registered after run returned", n)
		}
	}
	if out, err := sample(args...); err != nil {
		t.Fatalf("uninterrupted: %v\n%s", err, out)
	}
	for _, ext := range []string{".csv", ".png"} {
		if _, err := os.Stat(base + ext); err != nil {
			t.Errorf("uninterrupted run: %v", err)
		}
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 2 {
		t.Errorf("output folder holds %d files, want the CSV and the PNG only", len(entries))
	}
}
