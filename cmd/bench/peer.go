package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Where the peers live, relative to the repository root.
var (
	mlpPeerScript  = filepath.Join("bench", "mlp_peer.py")
	unetPeerScript = filepath.Join("bench", "unet_peer.py")
)

// exitNoTorch is the peer's exit status when PyTorch cannot be imported.
const exitNoTorch = 3

// exitNoCUDA is unet_peer.py's exit status when --device cuda was asked for
// and its torch cannot use CUDA.
const exitNoCUDA = 4

// peerRunner runs one of the peer scripts.
type peerRunner struct {
	python, script string
	device         string // --device of unet_peer.py; "" for mlp_peer.py, which runs on the CPU
	o              options
}

// peerResult is what the peer measured for one model.
type peerResult struct {
	sideResult
	torchVersion string
	threads      int
	blas         string // BLAS library the peer loaded
	conv         string // kernel of PyTorch's convolutions (UNet peer only)
	malloc       string // the peer's malloc mode
	device       string // "cpu", or "cuda (GPU name)"
	cuda         string // torch.version.cuda, on the GPU
	tf32Matmul   *bool  // torch.backends.cuda.matmul.allow_tf32, on the GPU
	tf32Conv     *bool  // torch.backends.cudnn.allow_tf32, on the GPU
	// gpuAllocMiB and gpuReservedMiB are torch.cuda.max_memory_allocated and
	// max_memory_reserved over both steps, on the GPU (0: unknown).
	gpuAllocMiB, gpuReservedMiB float64
	// gpuSMIMiB is what nvidia-smi listed for the peer's process after both
	// steps (0: unknown).
	gpuSMIMiB float64
}

// onGPU reports whether the peer ran on CUDA.
func (r peerResult) onGPU() bool { return strings.HasPrefix(r.device, deviceCUDA) }

// newPeer finds the interpreter and the script (rel, found from the working
// directory upwards, or the path given by the flag named flagName) and checks
// that PyTorch imports (and, with device "cuda", that it can use CUDA), so
// that a missing peer is reported before any timing. device is passed to
// the script as --device unless it is "".
func newPeer(o options, rel, given, flagName, device string) (*peerRunner, error) {
	python, err := exec.LookPath(o.python)
	if err != nil {
		return nil, fmt.Errorf("Python interpreter %q not found (--python): %w", o.python, err)
	}
	script := given
	if script == "" {
		if script, err = findPeerScript(rel); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("--%s: %w", flagName, err)
	}
	p := &peerRunner{python: python, script: script, device: device, o: o}
	if _, err := p.exec(p.deviceArgs("--count-params")...); err != nil {
		return nil, err
	}
	return p, nil
}

// findPeerScript looks for the script rel (e.g. bench/mlp_peer.py) in the
// working directory and its parents (go run ./cmd/bench runs at the
// repository root, go test in cmd/bench).
func findPeerScript(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding %s: %w", rel, err)
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found in the working directory or its parents (run from the repository, or pass its path)", rel)
		}
		dir = parent
	}
}

// deviceArgs appends --device to args when the runner has one.
func (p *peerRunner) deviceArgs(args ...string) []string {
	if p.device != "" {
		args = append(args, "--device", p.device)
	}
	return args
}

// exec runs the script with args and returns its standard output.
func (p *peerRunner) exec(args ...string) ([]byte, error) {
	cmd := exec.Command(p.python, append([]string{p.script}, args...)...)
	cmd.Env = append(os.Environ(), p.o.peerEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	msg := strings.TrimSpace(stderr.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == exitNoTorch {
		return nil, fmt.Errorf("PyTorch is not installed for %s (%s); install Debian's python3-torch or pass --python", p.python, msg)
	}
	if errors.As(err, &ee) && ee.ExitCode() == exitNoCUDA {
		return nil, fmt.Errorf("PyTorch in %s cannot run on CUDA (%s); pass --python with a CUDA build of torch, or --peer-device cpu", p.python, msg)
	}
	if msg != "" {
		return nil, fmt.Errorf("%s %s: %w\n%s", p.python, p.script, err, msg)
	}
	return nil, fmt.Errorf("%s %s: %w", p.python, p.script, err)
}

// peerLine is one JSON line of the peer's output.
type peerLine struct {
	Measurement string  `json:"measurement"`
	MedianMS    float64 `json:"median_ms"`
	MinMS       float64 `json:"min_ms"`
	MaxMS       float64 `json:"max_ms"`
	FirstMS     float64 `json:"first_ms"`
	Runs        int     `json:"runs"`
	MiB         float64 `json:"mib"`
	Torch       string  `json:"torch"`
	Threads     int     `json:"threads"`
	Params      int     `json:"params"`
	BLAS        string  `json:"blas"`
	Conv        string  `json:"conv"`
	Malloc      string  `json:"malloc"`
	Device      string  `json:"device"`
	CUDA        string  `json:"cuda"`
	TF32Matmul  *bool   `json:"tf32_matmul"`
	TF32Conv    *bool   `json:"tf32_conv"`
	AllocMiB    float64 `json:"allocated_mib"`
	ReservedMiB float64 `json:"reserved_mib"`
	SMIMiB      float64 `json:"smi_mib"` // null (0) when nvidia-smi did not list the peer
}

// runMLP times bench/mlp_peer.py for one activation.
func (p *peerRunner) runMLP(act string) (peerResult, error) {
	return p.measure("--activation", act, "--batch", strconv.Itoa(p.o.batch), "--samples", strconv.Itoa(p.o.samples))
}

// runUNet times bench/unet_peer.py for the named UNet configuration.
func (p *peerRunner) runUNet(config string) (peerResult, error) {
	return p.measure(p.deviceArgs("--config", config, "--batch", strconv.Itoa(p.o.unetBatch), "--samples", strconv.Itoa(p.o.unetSamples))...)
}

// measure runs the peer with args and the flags common to both peers, and
// reads its measurements.
func (p *peerRunner) measure(args ...string) (peerResult, error) {
	o := p.o
	out, err := p.exec(append(args, "--runs", strconv.Itoa(o.runs), "--warmup", strconv.Itoa(o.warmup),
		"--threads", strconv.Itoa(o.threads), "--malloc", o.peerMalloc)...)
	if err != nil {
		return peerResult{}, err
	}
	return parsePeer(out)
}

// parsePeer reads the peer's JSON lines; every measurement must be present
// (gpu_memory only when the info line names a CUDA device).
func parsePeer(out []byte) (peerResult, error) {
	var r peerResult
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l peerLine
		if err := json.Unmarshal(line, &l); err != nil {
			return r, fmt.Errorf("peer output line %d: %w: %q", n, err, line)
		}
		tm := timing{Median: l.MedianMS, Min: l.MinMS, Max: l.MaxMS, First: l.FirstMS, Runs: l.Runs}
		switch l.Measurement {
		case "info":
			r.torchVersion, r.threads, r.params, r.blas, r.conv, r.malloc = l.Torch, l.Threads, l.Params, l.BLAS, l.Conv, l.Malloc
			r.device, r.cuda, r.tf32Matmul, r.tf32Conv = l.Device, l.CUDA, l.TF32Matmul, l.TF32Conv
			if r.device == "" {
				r.device = deviceCPU // mlp_peer.py, and peers from before --device
			}
		case "train_step":
			r.train = tm
		case "sample_step":
			r.sample = tm
		case "peak_rss":
			r.peakRSSMiB = l.MiB
		case "gpu_memory":
			r.gpuAllocMiB, r.gpuReservedMiB, r.gpuSMIMiB = l.AllocMiB, l.ReservedMiB, l.SMIMiB
		default:
			continue
		}
		seen[l.Measurement] = true
	}
	want := []string{"info", "train_step", "sample_step", "peak_rss"}
	if r.onGPU() {
		want = append(want, "gpu_memory")
	}
	for _, m := range want {
		if !seen[m] {
			return r, fmt.Errorf("peer output lacks the %q line", m)
		}
	}
	return r, nil
}
