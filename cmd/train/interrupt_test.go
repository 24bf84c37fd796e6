package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/internal/interrupt"
	"github.com/godiffusion/diffusion-models/internal/interrupt/interrupttest"
)

// interruptArgs trains a tiny gaussians8 model for interruptSteps steps
// with no checkpoint before the end (--checkpoint-every 0), so that the
// checkpoint on disk after an interrupt is the one the interrupt wrote.
const interruptSteps, interruptAt = 30, 11

func interruptArgs(dir string) []string {
	return []string{"--dataset", "gaussians8", "--steps", "30", "--batch-size", "64", "--hidden", "32", "--blocks", "1",
		"--timesteps", "50", "--checkpoint-every", "0", "--quiet", "--out", dir}
}

// shellWords splits a command line written by interrupt.Command: words
// separated by spaces, single-quoted where needed, as a POSIX shell reads them.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			cur.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == '\\':
			t.Fatalf("unexpected backslash outside quotes in %q", line)
		case r == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// interruptedRun trains with interruptArgs(dir) and, from the hook at
// step interruptAt, calls send (which delivers the signal), then waits for
// the watcher's message, so that training stops after exactly that step.
// It checks the error, the exit status, the messages and the checkpoint,
// and returns the arguments of the printed resume command.
func interruptedRun(t *testing.T, dir string, send func()) []string {
	t.Helper()
	var stdout, stderr cmdtest.SyncBuffer
	onStep = func(step int64) {
		if step != interruptAt {
			return
		}
		send()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(stderr.String(), "finishing step") {
			if time.Now().After(deadline) {
				t.Errorf("no interrupt message 20 s after the signal")
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	defer func() { onStep = nil }()
	args := interruptArgs(dir)
	err := run(args, &stdout, &stderr)
	if !errors.Is(err, diffusion.ErrInterrupted) {
		t.Fatalf("interrupted run: error %v, want one wrapping diffusion.ErrInterrupted\n%s%s", err, stdout.String(), stderr.String())
	}
	if got := interrupt.ExitStatus(err); got != 130 {
		t.Errorf("exit status %d, want 130", got)
	}
	wantMsg := "train: interrupt: finishing step 11 and writing the checkpoint (press Ctrl-C again to abort at once)\n"
	if !strings.Contains(stderr.String(), wantMsg) {
		t.Errorf("stderr %q lacks %q", stderr.String(), wantMsg)
	}
	ckPath := filepath.Join(dir, CheckpointName)
	lines := strings.Split(err.Error(), "\n")
	if want := "interrupted at step 11 of 30; checkpoint " + ckPath + "; to resume, run:"; lines[0] != want || len(lines) != 2 {
		t.Fatalf("error %q, want %q and the command on the next line", err, want)
	}
	ck, ckErr := diffusion.ReadCheckpoint(ckPath)
	if ckErr != nil {
		t.Fatalf("checkpoint written at the interrupt: %v", ckErr)
	}
	if ck.Step != interruptAt || len(ck.Losses) != interruptAt {
		t.Errorf("checkpoint at step %d with %d losses, want %d", ck.Step, len(ck.Losses), interruptAt)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%s holds %d files, want only %s", dir, len(entries), CheckpointName)
	}
	t.Logf("stderr:\n%strain: %v", stderr.String(), err)
	words := shellWords(t, strings.TrimSpace(lines[1]))
	prefix := []string{"go", "run", "./cmd/train"} // the test binary is built by go test, in a go-build folder
	if len(words) < len(prefix) || !slices.Equal(words[:len(prefix)], prefix) {
		t.Fatalf("resume command %q does not start with %q", lines[1], strings.Join(prefix, " "))
	}
	rest := words[len(prefix):]
	if want := append(slices.Clone(args), "--resume"); !slices.Equal(rest, want) {
		t.Errorf("resume command's arguments %q, want %q", rest, want)
	}
	return rest
}

// resumeAndCompare runs the resume arguments and compares the final
// checkpoint with that of an uninterrupted run, bit for bit.
func resumeAndCompare(t *testing.T, dir string, resume []string) {
	t.Helper()
	if out, err := train(t, resume...); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	ref := filepath.Join(t.TempDir(), "ref")
	if out, err := train(t, interruptArgs(ref)...); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	want, err := diffusion.ReadCheckpoint(filepath.Join(ref, CheckpointName))
	if err != nil {
		t.Fatal(err)
	}
	got, err := diffusion.ReadCheckpoint(filepath.Join(dir, CheckpointName))
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != interruptSteps || want.Step != interruptSteps {
		t.Fatalf("checkpoints at steps %d (resumed) and %d (uninterrupted), want %d", got.Step, want.Step, interruptSteps)
	}
	if !slices.Equal(got.Losses, want.Losses) {
		t.Errorf("loss histories differ:\nresumed       %v\nuninterrupted %v", got.Losses, want.Losses)
	}
	if string(got.SamplerState) != string(want.SamplerState) {
		t.Errorf("timestep-sampler states differ")
	}
	if _, ok := want.Variables["/#rngState"]; !ok || len(want.Variables) < 5 {
		t.Fatalf("the uninterrupted checkpoint holds %d variables, without the random state: nothing to compare", len(want.Variables))
	}
	if len(got.Variables) != len(want.Variables) {
		t.Errorf("%d vs %d variables", len(got.Variables), len(want.Variables))
	}
	for name, w := range want.Variables {
		if g, ok := got.Variables[name]; !ok || !g.Equal(w) {
			t.Errorf("variable %s differs between the resumed and the uninterrupted run", name)
		}
	}
}

// TestTrainInterruptSignal sends a real SIGINT to the test process during
// training: the run must stop after the step in progress with exit status
// 130, write the checkpoint of that step and print the resume command,
// whose arguments, run again, must end exactly where an uninterrupted run
// ends. The folder's name has a space, which the command must quote.
func TestTrainInterruptSignal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "g8 run")
	resume := interruptedRun(t, dir, func() {
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Errorf("kill: %v", err)
		}
	})
	resumeAndCompare(t, dir, resume)
}

// TestTrainInterruptHook delivers the signal through the injectable hook
// (SIGTERM, by hand) and checks that the watcher is unregistered when run
// returns, interrupted or not.
func TestTrainInterruptHook(t *testing.T) {
	hub := interrupttest.Install(t)

	dir := filepath.Join(t.TempDir(), "it's")
	var stderr cmdtest.SyncBuffer
	onStep = func(step int64) {
		if step != interruptAt {
			return
		}
		if n := hub.Registered(); n != 1 {
			t.Errorf("%d channels registered during training, want 1", n)
		}
		hub.Send(syscall.SIGTERM)
		for !strings.Contains(stderr.String(), "finishing step") {
			time.Sleep(time.Millisecond)
		}
	}
	defer func() { onStep = nil }()
	err := run(interruptArgs(dir), &bytes.Buffer{}, &stderr)
	if !errors.Is(err, diffusion.ErrInterrupted) || interrupt.ExitStatus(err) != interrupt.ExitCode {
		t.Fatalf("error %v (exit status %d), want an interrupt (130)", err, interrupt.ExitStatus(err))
	}
	if want := "train: terminated: finishing step 11 and writing the checkpoint"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", stderr.String(), want)
	}
	if n := hub.Registered(); n != 0 {
		t.Errorf("%d channels still registered after run returned", n)
	}
	if !strings.Contains(err.Error(), `'`+strings.ReplaceAll(dir, "'", `'\''`)+`'`) {
		t.Errorf("resume command does not quote the folder %q: %v", dir, err)
	}
	ck, err := diffusion.ReadCheckpoint(filepath.Join(dir, CheckpointName))
	if err != nil || ck.Step != interruptAt {
		t.Fatalf("checkpoint: %v, step %d; want step %d", err, ck.Step, interruptAt)
	}
	// A run that is not interrupted unregisters too, and exits normally.
	onStep = nil
	if out, err := train(t, "--out", dir, "--resume", "--steps", "31", "--quiet"); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if got := interrupt.ExitStatus(errors.New("--steps must be > 0")); got != 1 {
		t.Errorf("exit status of another error %d, want 1", got)
	}
	if n := hub.Registered(); n != 0 {
		t.Errorf("%d channels still registered after a normal run", n)
	}
}

// TestResumeCommand checks the resume command's quoting and --resume.
func TestResumeCommand(t *testing.T) {
	p := interrupt.Program("train")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", "out/g8", "--steps", "100"}, " --out out/g8 --steps 100 --resume"},
		{[]string{"--out", "out/g8", "--resume", "--steps", "100"}, " --out out/g8 --resume --steps 100"},
		{[]string{"-resume=true", "--out", "my run"}, " -resume=true --out 'my run'"},
		{[]string{"--resume=false", "--out", "it's"}, ` --resume=false --out 'it'\''s' --resume`},
		{[]string{"--out", "a$b", "--prompt", ""}, ` --out 'a$b' --prompt '' --resume`},
	} {
		if got := resumeCommand(c.args); got != p+c.want {
			t.Errorf("resumeCommand(%q) = %q, want %q", c.args, got, p+c.want)
		}
	}
}
