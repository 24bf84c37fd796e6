// Command bench times the 2-D MLP diffusion model on the pure-Go GoMLX
// backend against an identical PyTorch model, in the same run, and prints one
// table:
//
//	GOEXPERIMENT=simd go run ./cmd/bench
//
// For each activation (--activation, default relu,silu) it measures, with
// experiment.Default2D("gaussians8") (linear schedule T = 1000, ε
// prediction, L_simple, Adam lr 1e-3 with 100 warm-up steps, EMA 0.995):
//
//   - one training step, [diffusion.Trainer.TrainStep] on a batch of 256
//     (the data drawn beforehand, so that only the step is timed);
//   - one DDPM sampling step ([diffusion.DDPM.Step], β̃ variance) on 2000
//     samples, on a graph compiled once, as [diffusion.Sample] does;
//   - the peak resident memory of each side;
//   - the share of the CPUs that other processes used meanwhile (timings
//     taken on a busy machine are flagged).
//
// Every step is run --warmup times untimed (the first Go call compiles the
// graph; it is reported on its own row), then --runs times timed; the table
// shows medians with min and max. The PyTorch peer, bench/mlp_peer.py, runs
// as a subprocess after the Go side, never at the same time (PyTorch's
// OpenMP threads busy-wait, and anything else on the cores slows them down).
// Without PyTorch the Go side is printed alone, with a note (an error with
// --require-peer). The report names the BLAS that PyTorch loaded and warns
// when it is the slow reference one; --peer-env passes, for example, an
// LD_LIBRARY_PATH to an OpenBLAS (see bench/README.md).
//
// The pure-Go backend's matrix products are many times faster when Go is
// built with GOEXPERIMENT=simd; the command warns loudly when it was not.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/unet"
)

// busyLimit is the share of the machine's CPU time used by other processes
// during a measurement above which its timings are flagged.
const busyLimit = 0.10

// warnBusy warns when other processes used more than busyLimit of the CPUs
// while one side was measured.
func warnBusy(w io.Writer, act, side string, share float64) {
	if share > busyLimit {
		fmt.Fprintf(w, "bench: WARNING: other processes used %.0f%% of the CPUs while the %s side of %s ran; its timings are inflated\n",
			100*share, side, act)
	}
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	activations []string
	runs        int
	warmup      int
	batch       int
	samples     int
	python      string
	peerScript  string
	threads     int
	peerMalloc  string
	peerEnv     []string
	noPeer      bool
	requirePeer bool
	cpuProfile  string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	acts := fs.String("activation", "relu,silu", "MLP activations to measure, comma-separated: relu, silu")
	fs.IntVar(&o.runs, "runs", 50, "timed runs of the training step and of the sampling step")
	fs.IntVar(&o.warmup, "warmup", 5, "untimed runs before them (the first Go run compiles the graph)")
	fs.IntVar(&o.batch, "batch", 256, "training batch size")
	fs.IntVar(&o.samples, "samples", 2000, "samples denoised by the sampling step")
	fs.StringVar(&o.python, "python", "/usr/bin/python3", "Python interpreter with PyTorch for the peer")
	fs.StringVar(&o.peerScript, "peer-script", "", "path of bench/mlp_peer.py (default: found from the working directory upwards)")
	fs.IntVar(&o.threads, "threads", 2, "PyTorch threads (torch.set_num_threads)")
	fs.StringVar(&o.peerMalloc, "peer-malloc", "keep", "the peer's glibc malloc: keep (freed memory stays in the process) or system")
	fs.Func("peer-env", "KEY=VALUE added to the peer's environment (repeatable), e.g. LD_LIBRARY_PATH=DIR of an OpenBLAS libblas.so.3", func(s string) error {
		if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", s)
		}
		o.peerEnv = append(o.peerEnv, s)
		return nil
	})
	fs.BoolVar(&o.noPeer, "no-peer", false, "time the Go side only")
	fs.BoolVar(&o.requirePeer, "require-peer", false, "fail when the PyTorch peer cannot run")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed Go training steps to FILE, with -ACTIVATION inserted before the extension")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	seen := map[string]bool{}
	for _, a := range strings.Split(*acts, ",") {
		a = strings.TrimSpace(a)
		if a == "" || seen[a] {
			continue
		}
		if a != "relu" && a != "silu" {
			return o, fmt.Errorf("--activation: unknown activation %q (want relu or silu)", a)
		}
		if err := (unet.MLPConfig{Activation: a}).Validate(); err != nil {
			return o, fmt.Errorf("--activation: %w", err)
		}
		seen[a] = true
		o.activations = append(o.activations, a)
	}
	switch {
	case len(o.activations) == 0:
		return o, errors.New("--activation: no activation given (want relu, silu or relu,silu)")
	case o.runs < 1:
		return o, fmt.Errorf("--runs must be ≥ 1, got %d", o.runs)
	case o.warmup < 0:
		return o, fmt.Errorf("--warmup must be ≥ 0, got %d", o.warmup)
	case o.batch < 1:
		return o, fmt.Errorf("--batch must be ≥ 1, got %d", o.batch)
	case o.samples < 1:
		return o, fmt.Errorf("--samples must be ≥ 1, got %d", o.samples)
	case o.threads < 1:
		return o, fmt.Errorf("--threads must be ≥ 1, got %d", o.threads)
	case o.peerMalloc != "keep" && o.peerMalloc != "system":
		return o, fmt.Errorf("--peer-malloc must be keep or system, got %q", o.peerMalloc)
	case o.noPeer && o.requirePeer:
		return o, errors.New("--no-peer and --require-peer contradict each other")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	simd, how := simdEnabled()
	if !simd {
		fmt.Fprintf(stderr, "\n%s\n%s\n%s\n\n", banner, simdWarning(how), banner)
	}
	backend.Log = stderr
	b, err := backend.New()
	if err != nil {
		return err
	}
	env := environment{
		goVersion: goVersionLine(), simd: simd, simdHow: how,
		backend: b.Name(), backendDesc: b.Description(), load: loadAverage(),
	}

	// The peer is located and probed before any timing, so that a missing
	// PyTorch is reported at once.
	var peer *peerRunner
	var peerNote string
	if !o.noPeer {
		peer, err = newPeer(o)
		if err != nil {
			if o.requirePeer {
				return fmt.Errorf("the PyTorch peer cannot run (--require-peer): %w", err)
			}
			peerNote = "PyTorch peer not run: " + err.Error()
			fmt.Fprintf(stderr, "bench: %s; timing the Go side only\n", peerNote)
			peer = nil
		}
	} else {
		peerNote = "PyTorch peer not run (--no-peer)"
	}

	env.busy = cpuBusy(300 * time.Millisecond)
	var rows []activationResult
	for _, act := range o.activations {
		fmt.Fprintf(stderr, "bench: %s: Go side (%d warm-up + %d timed runs per step)\n", act, o.warmup, o.runs)
		before := takeCPUSnapshot()
		goRes, err := benchGo(b, act, o, stderr)
		if err != nil {
			return fmt.Errorf("%s: Go side: %w", act, err)
		}
		goRes.otherCPU = otherCPUShare(before, takeCPUSnapshot())
		if want := (unet.MLPConfig{Activation: act}).NumParams(); goRes.params != want {
			return fmt.Errorf("%s: the Go model has %d parameters, unet.MLPConfig.NumParams says %d", act, goRes.params, want)
		}
		warnBusy(stderr, act, "Go", goRes.otherCPU)
		r := activationResult{activation: act, goSide: goRes}
		if peer != nil {
			fmt.Fprintf(stderr, "bench: %s: PyTorch peer\n", act)
			before := takeCPUSnapshot()
			pr, err := peer.run(act)
			if err != nil {
				return fmt.Errorf("%s: PyTorch peer: %w", act, err)
			}
			pr.otherCPU = otherCPUShare(before, takeCPUSnapshot())
			if pr.params != goRes.params {
				return fmt.Errorf("%s: the PyTorch model has %d parameters and the Go model %d: they are not the same model", act, pr.params, goRes.params)
			}
			warnBusy(stderr, act, "PyTorch", pr.otherCPU)
			r.peer = &pr
			env.torch, env.torchThreads, env.torchBLAS, env.torchMalloc = pr.torchVersion, pr.threads, pr.blas, pr.malloc
		}
		rows = append(rows, r)
	}
	env.peerNote = peerNote
	writeReport(stdout, env, o, rows)
	return nil
}
