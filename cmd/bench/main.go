// Command bench times diffusion models on the GoMLX backend that package
// backend chooses (the pure-Go one, XLA on the CPU, or XLA on an NVIDIA GPU)
// against identical PyTorch models, in the same run, and prints one table:
//
//	GOEXPERIMENT=simd go run ./cmd/bench                          # the 2-D MLP
//	GOEXPERIMENT=simd go run ./cmd/bench --model unet --runs 10   # the reference UNet
//	GOMLX_BACKEND=xla:cuda GOEXPERIMENT=simd go run ./cmd/bench --model unet --runs 20   # on the GPU
//
// --model mlp (the default) measures the 2-D MLP for each activation
// (--activation, default relu,silu), with experiment.Default2D("gaussians8")
// (linear schedule T = 1000, ε prediction, L_simple, Adam lr 1e-3 with 100
// warm-up steps, EMA 0.995):
//
//   - one training step, [diffusion.Trainer.TrainStep] on a batch of 256
//     (the data drawn beforehand, so that only the step is timed);
//   - one DDPM sampling step ([diffusion.DDPM.Step], β̃ variance) on 2000
//     samples, on a graph compiled once, as [diffusion.Sample] does;
//   - the peak resident memory of each side;
//   - the share of the CPUs that other processes used meanwhile (timings
//     taken on a busy machine are flagged).
//
// --model unet measures the same for the UNet of --unet-config (default
// "reference", 1,152,193 parameters; see [unet.UNetConfigByName]) on
// MNIST-shaped random images in [−1, 1]: the linear schedule T = 1000, ε
// prediction, L_simple, Adam lr 2e-4, EMA 0.9999; a training step on 64
// images (--unet-batch) and a DDPM step (β̃ variance, x̂₀ clipped to [−1, 1])
// on 16 (--unet-samples). --model all measures both.
//
// Besides the times, the table gives the throughput of each step, n/median
// (images or samples per second), and names the backend in the Go column
// ("pure-Go", "XLA CPU", "XLA CUDA"). When the Go side runs on XLA CUDA it
// adds the GPU memory that nvidia-smi lists for this process (polled after
// the timed runs of each step, the largest kept; "—" without nvidia-smi).
// The UNet peer runs on --peer-device: cuda by default when the Go side runs
// on XLA CUDA, cpu otherwise; on the GPU it reports torch's peak allocated and
// reserved memory and nvidia-smi's figure for its own process. A torch
// without CUDA (Debian's) is reported, and the Go side printed alone.
//
// Every step is run --warmup times untimed (the first Go call compiles the
// graph; it is reported on its own row), then --runs times timed; the table
// shows medians with min and max. The PyTorch peers, bench/mlp_peer.py and
// bench/unet_peer.py, run as subprocesses after the Go side of each model,
// never at the same time (PyTorch's OpenMP threads busy-wait, and anything
// else on the cores slows them down). Without PyTorch the Go side is
// printed alone, with a note (an error with --require-peer). The report
// names the BLAS that PyTorch loaded and warns when it is the slow reference
// one; --peer-env passes, for example, an LD_LIBRARY_PATH to an OpenBLAS
// (see bench/README.md). For the UNet it also names the kernel PyTorch's
// convolutions ran on (oneDNN, which does not use the BLAS) and the Go
// side's convolution formulation and streams ([unet.ConvKindFor],
// [unet.StreamsFor]).
//
// --json adds, as the last line of stdout, one JSON object with the
// Go/PyTorch ratios train_ratio, sample_ratio (medians) and memory_ratio
// (peak resident memory) of the UNet (or, without it, of the last MLP
// activation), and every part's absolute figures; a ratio is null when the
// peer did not run.
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
	"slices"
	"strings"
	"time"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/unet"
)

// busyLimit is the share of the machine's CPU time used by other processes
// during a measurement above which its timings are flagged.
const busyLimit = 0.10

// warnBusy warns when other processes used more than busyLimit of the CPUs
// while one side of the part label was measured.
func warnBusy(w io.Writer, label, side string, share float64) {
	if share > busyLimit {
		fmt.Fprintf(w, "bench: WARNING: other processes used %.0f%% of the CPUs while the %s side of %s ran; its timings are inflated\n",
			100*share, side, label)
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
	models         []string // "mlp", "unet", in that order
	activations    []string
	runs           int
	warmup         int
	batch          int
	samples        int
	unetName       string
	unet           unet.UNetConfig // the configuration unetName names
	unetBatch      int
	unetSamples    int
	python         string
	peerScript     string
	unetPeerScript string
	peerDevice     string // --peer-device: "", "cpu" or "cuda"; "" means defaultPeerDevice
	threads        int
	peerMalloc     string
	peerEnv        []string
	noPeer         bool
	requirePeer    bool
	cpuProfile     string
	jsonOut        bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	models := fs.String("model", "mlp", "models to measure: mlp (the 2-D MLP), unet (an image UNet) or all")
	acts := fs.String("activation", "relu,silu", "MLP activations to measure, comma-separated: relu, silu")
	fs.IntVar(&o.runs, "runs", 50, "timed runs of the training step and of the sampling step (10 suit the UNet)")
	fs.IntVar(&o.warmup, "warmup", 5, "untimed runs before them (the first Go run compiles the graph)")
	fs.IntVar(&o.batch, "batch", 256, "MLP training batch size")
	fs.IntVar(&o.samples, "samples", 2000, "samples denoised by the MLP's sampling step")
	fs.StringVar(&o.unetName, "unet-config", "reference", "UNet configuration (unet.UNetConfigByName): "+strings.Join(unet.UNetConfigNames(), ", "))
	fs.IntVar(&o.unetBatch, "unet-batch", 64, "UNet training batch size (images)")
	fs.IntVar(&o.unetSamples, "unet-samples", 16, "images denoised by the UNet's sampling step")
	fs.StringVar(&o.python, "python", "/usr/bin/python3", "Python interpreter with PyTorch for the peers")
	fs.StringVar(&o.peerScript, "peer-script", "", "path of bench/mlp_peer.py (default: found from the working directory upwards)")
	fs.StringVar(&o.unetPeerScript, "unet-peer-script", "", "path of bench/unet_peer.py (default: found from the working directory upwards)")
	fs.StringVar(&o.peerDevice, "peer-device", "", "device of the UNet's PyTorch peer: cpu or cuda (default: cuda when the Go side runs on XLA CUDA, else cpu; the MLP peer always runs on the CPU)")
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
	fs.BoolVar(&o.jsonOut, "json", false, "after the table, print one JSON object as the last line of stdout: train_ratio, sample_ratio, memory_ratio (Go/PyTorch: medians, peak RSS) of the headline model (the UNet when measured) and every figure behind them, per model")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed Go training steps to FILE, with -ACTIVATION (MLP) or -unet inserted before the extension")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch strings.TrimSpace(*models) {
	case "mlp":
		o.models = []string{"mlp"}
	case "unet":
		o.models = []string{"unet"}
	case "all":
		o.models = []string{"mlp", "unet"}
	default:
		return o, fmt.Errorf("--model: unknown model %q (want mlp, unet or all)", *models)
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
	var err error
	if o.unet, err = unet.UNetConfigByName(o.unetName); err != nil {
		return o, fmt.Errorf("--unet-config: %w", err)
	}
	if o.unet.ContextDim > 0 {
		return o, fmt.Errorf("--unet-config %s cross-attends to a text encoder's output, which the benchmark does not feed (nor the PyTorch peer mirror); measure the unconditional UNets", o.unetName)
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
	case o.unetBatch < 1:
		return o, fmt.Errorf("--unet-batch must be ≥ 1, got %d", o.unetBatch)
	case o.unetSamples < 1:
		return o, fmt.Errorf("--unet-samples must be ≥ 1, got %d", o.unetSamples)
	case o.threads < 1:
		return o, fmt.Errorf("--threads must be ≥ 1, got %d", o.threads)
	case o.peerMalloc != "keep" && o.peerMalloc != "system":
		return o, fmt.Errorf("--peer-malloc must be keep or system, got %q", o.peerMalloc)
	case o.noPeer && o.requirePeer:
		return o, errors.New("--no-peer and --require-peer contradict each other")
	case o.peerDevice != "" && o.peerDevice != deviceCPU && o.peerDevice != deviceCUDA:
		return o, fmt.Errorf("--peer-device must be cpu or cuda, got %q", o.peerDevice)
	}
	return o, nil
}

// appendNew appends v to list unless it is there already.
func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// has reports whether model ("mlp" or "unet") is measured.
func (o options) has(model string) bool { return slices.Contains(o.models, model) }

// parts lists what is measured, in order: one MLP part per activation, then
// the UNet.
func (o options) parts() []partResult {
	var ps []partResult
	if o.has("mlp") {
		for _, act := range o.activations {
			ps = append(ps, partResult{label: act, model: "mlp", batch: o.batch, samples: o.samples})
		}
	}
	if o.has("unet") {
		ps = append(ps, partResult{label: "unet", model: "unet", batch: o.unetBatch, samples: o.unetSamples})
	}
	return ps
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
		backend: describeBackend(b), load: loadAverage(),
	}
	if v := os.Getenv(backend.EnvVar); strings.Contains(strings.ToLower(v), "cuda") && env.backend.kind != kindXLACUDA {
		env.cudaFallback = v
	}
	if o.peerDevice == "" {
		o.peerDevice = defaultPeerDevice(env.backend.kind)
	}
	// GPU memory of the Go side: only on CUDA, and only with nvidia-smi.
	var meter *gpuMeter
	if env.backend.kind == kindXLACUDA {
		if meter, err = newGPUMeter(os.Getpid()); err != nil {
			env.gpuNote = err.Error()
			fmt.Fprintf(stderr, "bench: %s; the GPU memory of the Go side is not measured\n", err)
		}
	}
	if o.has("unet") {
		env.unetGo = fmt.Sprintf("%s convolutions, %d stream(s) for the training batch, %d for the sampling batch",
			unet.ConvKindFor(b), unet.StreamsFor(b, o.unetBatch), unet.StreamsFor(b, o.unetSamples))
	}

	// The peers are located and probed before any timing, so that a missing
	// PyTorch is reported at once.
	peers := map[string]*peerRunner{}
	if o.noPeer {
		env.peerNotes = []string{"PyTorch peer not run (--no-peer)"}
	} else {
		for _, m := range o.models {
			rel, given, flagName := mlpPeerScript, o.peerScript, "peer-script"
			if m == "unet" {
				rel, given, flagName = unetPeerScript, o.unetPeerScript, "unet-peer-script"
			}
			device := ""
			if m == "unet" {
				device = o.peerDevice
			}
			p, err := newPeer(o, rel, given, flagName, device)
			if err != nil {
				if o.requirePeer {
					return fmt.Errorf("the PyTorch peer cannot run (--require-peer): %w", err)
				}
				note := "PyTorch peer not run: " + err.Error()
				if !slices.Contains(env.peerNotes, note) {
					env.peerNotes = append(env.peerNotes, note)
					fmt.Fprintf(stderr, "bench: %s; timing the Go side only\n", note)
				}
				continue
			}
			peers[m] = p
		}
	}

	env.busy = cpuBusy(300 * time.Millisecond)
	parts := o.parts()
	for i := range parts {
		r := &parts[i]
		fmt.Fprintf(stderr, "bench: %s: Go side (%d warm-up + %d timed runs per step)\n", r.label, o.warmup, o.runs)
		before := takeCPUSnapshot()
		var poll func()
		if meter != nil {
			meter.reset()
			poll = meter.poll
		}
		var want int
		if r.model == "unet" {
			r.goSide, err = benchGoUNet(b, o.unet, o, poll, stderr)
			want = o.unet.NumParams()
		} else {
			r.goSide, err = benchGo(b, r.label, o, poll, stderr)
			want = unet.MLPConfig{Activation: r.label}.NumParams()
		}
		if err != nil {
			return fmt.Errorf("%s: Go side: %w", r.label, err)
		}
		if meter != nil {
			if mib, merr := meter.result(); merr != nil {
				r.goSide.gpuErr = merr.Error()
			} else {
				r.goSide.gpuMiB = mib
			}
		}
		r.goSide.otherCPU = otherCPUShare(before, takeCPUSnapshot())
		if r.goSide.params != want {
			return fmt.Errorf("%s: the Go model has %d parameters, its configuration's NumParams says %d", r.label, r.goSide.params, want)
		}
		warnBusy(stderr, r.label, "Go", r.goSide.otherCPU)
		peer := peers[r.model]
		if peer == nil {
			continue
		}
		fmt.Fprintf(stderr, "bench: %s: PyTorch peer\n", r.label)
		before = takeCPUSnapshot()
		var pr peerResult
		if r.model == "unet" {
			pr, err = peer.runUNet(o.unetName)
		} else {
			pr, err = peer.runMLP(r.label)
		}
		if err != nil {
			return fmt.Errorf("%s: PyTorch peer: %w", r.label, err)
		}
		pr.otherCPU = otherCPUShare(before, takeCPUSnapshot())
		if pr.params != r.goSide.params {
			return fmt.Errorf("%s: the PyTorch model has %d parameters and the Go model %d: they are not the same model", r.label, pr.params, r.goSide.params)
		}
		warnBusy(stderr, r.label, "PyTorch", pr.otherCPU)
		r.peer = &pr
		env.torch, env.torchThreads, env.torchMalloc = pr.torchVersion, pr.threads, pr.malloc
		if pr.onGPU() {
			env.torchGPU = &pr
		} else {
			env.torchBLAS = pr.blas // the CPU BLAS matters only to a CPU peer
		}
		env.peerDevices = appendNew(env.peerDevices, pr.device)
		if pr.conv != "" {
			env.torchConv = pr.conv
		}
	}
	writeReport(stdout, env, o, parts)
	if o.jsonOut {
		return writeJSON(stdout, env, parts)
	}
	return nil
}
