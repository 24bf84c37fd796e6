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

// peerRunner runs one of the peer scripts.
type peerRunner struct {
	python, script string
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
}

// newPeer finds the interpreter and the script (rel, found from the working
// directory upwards, or the path given by the flag named flagName) and checks
// that PyTorch imports, so that a missing peer is reported before any timing.
func newPeer(o options, rel, given, flagName string) (*peerRunner, error) {
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
	p := &peerRunner{python: python, script: script, o: o}
	if _, err := p.exec("--count-params"); err != nil {
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
}

// runMLP times bench/mlp_peer.py for one activation.
func (p *peerRunner) runMLP(act string) (peerResult, error) {
	return p.measure("--activation", act, "--batch", strconv.Itoa(p.o.batch), "--samples", strconv.Itoa(p.o.samples))
}

// runUNet times bench/unet_peer.py for the named UNet configuration.
func (p *peerRunner) runUNet(config string) (peerResult, error) {
	return p.measure("--config", config, "--batch", strconv.Itoa(p.o.unetBatch), "--samples", strconv.Itoa(p.o.unetSamples))
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

// parsePeer reads the peer's JSON lines; every measurement must be present.
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
		case "train_step":
			r.train = tm
		case "sample_step":
			r.sample = tm
		case "peak_rss":
			r.peakRSSMiB = l.MiB
		default:
			continue
		}
		seen[l.Measurement] = true
	}
	for _, m := range []string{"info", "train_step", "sample_step", "peak_rss"} {
		if !seen[m] {
			return r, fmt.Errorf("peer output lacks the %q line", m)
		}
	}
	return r, nil
}
