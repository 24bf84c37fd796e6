package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/godiffusion/diffusion-models/unet"
)

// defaultParams is the parameter count of the default MLP, counted by hand
// layer by layer: time 64·128+128 and 128·128+128, input 2·128+128,
// 3 blocks × 3 × (128·128+128), output 128·2+2.
const defaultParams = 8320 + 16512 + 384 + 3*3*16512 + 258

func TestDefaultParamsHandCount(t *testing.T) {
	if defaultParams != 174082 {
		t.Fatalf("hand count %d, want the published 174,082", defaultParams)
	}
	if got := (unet.MLPConfig{}).NumParams(); got != defaultParams {
		t.Errorf("unet.MLPConfig{}.NumParams() = %d, want %d", got, defaultParams)
	}
}

// tableRow finds the row "| act: name… | go | torch | ratio |" and returns its cells.
func tableRow(t *testing.T, out, act, name string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "| "+act+": "+name) {
			cells := strings.Split(strings.Trim(line, "| "), " | ")
			if len(cells) != 4 {
				t.Fatalf("row %q has %d cells, want 4", line, len(cells))
			}
			return cells
		}
	}
	t.Fatalf("no row %q for %s in:\n%s", name, act, out)
	return nil
}

// parseTiming reads "median [min–max]".
func parseTiming(t *testing.T, s string) (med, lo, hi float64) {
	t.Helper()
	medS, rest, ok := strings.Cut(s, " [")
	loS, hiS, ok2 := strings.Cut(strings.TrimSuffix(rest, "]"), "–")
	if !ok || !ok2 {
		t.Fatalf("timing %q is not \"median [min–max]\"", s)
	}
	var err error
	vals := make([]float64, 3)
	for i, v := range []string{medS, loS, hiS} {
		if vals[i], err = strconv.ParseFloat(v, 64); err != nil {
			t.Fatalf("timing %q: %v", s, err)
		}
	}
	return vals[0], vals[1], vals[2]
}

// TestGoSideTable runs the Go side quickly (2 timed runs, no peer) and checks
// every row of the table for both activations.
func TestGoSideTable(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"--runs", "2", "--warmup", "1", "--no-peer", "--samples", "200"}, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	s := out.String()
	if !strings.Contains(s, "| measurement | Go (") || !strings.Contains(s, "| Go/PyTorch |") {
		t.Fatalf("no table header in:\n%s", s)
	}
	if !strings.Contains(s, "--no-peer") {
		t.Errorf("the report does not say that the peer was not run:\n%s", s)
	}
	for _, act := range []string{"relu", "silu"} {
		p := tableRow(t, s, act, "parameters")
		if n, err := strconv.Atoi(strings.ReplaceAll(p[1], ",", "")); err != nil || n != defaultParams {
			t.Errorf("%s: parameters %q, want %d", act, p[1], defaultParams)
		}
		for _, name := range []string{"train step, batch 256", "DDPM sample step, 200 samples"} {
			r := tableRow(t, s, act, name)
			med, lo, hi := parseTiming(t, r[1])
			if !(lo > 0 && lo <= med && med <= hi) {
				t.Errorf("%s %s: want 0 < min ≤ median ≤ max, got %q", act, name, r[1])
			}
			if r[2] != "—" || r[3] != "—" {
				t.Errorf("%s %s: PyTorch cells %q, %q without a peer, want —", act, name, r[2], r[3])
			}
		}
		for _, name := range []string{"first train step", "first sample step", "peak RSS (MiB)"} {
			r := tableRow(t, s, act, name)
			if v, err := strconv.ParseFloat(r[1], 64); err != nil || v <= 0 {
				t.Errorf("%s %s: Go cell %q, want a positive number", act, name, r[1])
			}
		}
	}
}

func TestBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--activation", "tanh"}, "tanh"},
		{[]string{"--model", "cnn"}, "--model"},
		{[]string{"--unet-config", "huge"}, "--unet-config"},
		{[]string{"--unet-config", "latent-text"}, "cross-attends to a text"},
		{[]string{"--unet-batch", "0"}, "--unet-batch"},
		{[]string{"--unet-samples", "-1"}, "--unet-samples"},
		{[]string{"--activation", ","}, "--activation"},
		{[]string{"--runs", "0"}, "--runs"},
		{[]string{"--warmup", "-1"}, "--warmup"},
		{[]string{"--batch", "0"}, "--batch"},
		{[]string{"--samples", "0"}, "--samples"},
		{[]string{"--threads", "0"}, "--threads"},
		{[]string{"--peer-malloc", "jemalloc"}, "--peer-malloc"},
		{[]string{"--peer-env", "NOEQUALS"}, "KEY=VALUE"},
		{[]string{"--no-peer", "--require-peer"}, "contradict"},
		{[]string{"extra"}, "unexpected"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		err := run(c.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error()+errb.String(), c.want) {
			t.Errorf("run(%q): error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}

// noTorchPython writes an interpreter that cannot import torch: the system
// Python without its site packages (-S), where Debian installs torch.
func noTorchPython(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	path := filepath.Join(t.TempDir(), "python-without-torch")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexec /usr/bin/python3 -I -S \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMissingPeer checks both ways of handling an interpreter without PyTorch.
func TestMissingPeer(t *testing.T) {
	py := noTorchPython(t)
	base := []string{"--python", py, "--runs", "1", "--warmup", "0", "--activation", "relu", "--samples", "100"}

	var out, errb bytes.Buffer
	if err := run(append([]string{"--require-peer"}, base...), &out, &errb); err == nil || !strings.Contains(err.Error(), "PyTorch is not installed") {
		t.Errorf("--require-peer without torch: error %v, want one saying PyTorch is not installed", err)
	}
	if strings.Contains(out.String(), "| relu: train step") {
		t.Errorf("--require-peer without torch still timed the Go side:\n%s", out.String())
	}

	out.Reset()
	errb.Reset()
	if err := run(base, &out, &errb); err != nil {
		t.Fatalf("without torch and without --require-peer: %v\n%s", err, errb.String())
	}
	s := out.String()
	if !strings.Contains(s, "PyTorch peer not run: PyTorch is not installed") {
		t.Errorf("the report does not say that PyTorch is missing:\n%s", s)
	}
	if r := tableRow(t, s, "relu", "train step"); r[2] != "—" {
		t.Errorf("PyTorch cell %q without torch, want —", r[2])
	}

	// The UNet peer reports a missing torch the same way.
	var ub bytes.Buffer
	uo, err := parseFlags([]string{"--python", py, "--model", "unet"}, &ub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newPeer(uo, unetPeerScript, "", "unet-peer-script", deviceCPU); err == nil || !strings.Contains(err.Error(), "PyTorch is not installed") {
		t.Errorf("UNet peer without torch: error %v, want one saying PyTorch is not installed", err)
	}

	if _, err := exec.LookPath("/nonexistent/python3"); err == nil {
		t.Skip("/nonexistent/python3 exists")
	}
	var eb bytes.Buffer
	o, err := parseFlags([]string{"--python", "/nonexistent/python3"}, &eb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newPeer(o, mlpPeerScript, "", "peer-script", ""); err == nil || !strings.Contains(err.Error(), "/nonexistent/python3") {
		t.Errorf("a missing interpreter: error %v, want one naming it", err)
	}
}

func TestSummarize(t *testing.T) {
	cases := []struct {
		in                []float64
		med, lo, hi       float64
		wantRuns, wantLen int
	}{
		{[]float64{5}, 5, 5, 5, 1, 1},
		{[]float64{3, 1, 2}, 2, 1, 3, 3, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4, 4, 4},
		{[]float64{10, 10, 1, 100, 10}, 10, 1, 100, 5, 5},
	}
	for _, c := range cases {
		orig := append([]float64(nil), c.in...)
		got := summarize(c.in)
		if got.Median != c.med || got.Min != c.lo || got.Max != c.hi || got.Runs != c.wantRuns {
			t.Errorf("summarize(%v) = %+v, want median %v, min %v, max %v, runs %d", orig, got, c.med, c.lo, c.hi, c.wantRuns)
		}
		for i := range orig {
			if c.in[i] != orig[i] {
				t.Errorf("summarize reordered its input: %v, was %v", c.in, orig)
				break
			}
		}
	}
}

func TestHasExperiment(t *testing.T) {
	cases := []struct {
		list string
		want bool
	}{
		{"simd", true},
		{"arenas,simd", true},
		{" simd ", true},
		{"", false},
		{"simdx", false},
		{"nosimd", false},
		{"simd,nosimd", false},
		{"nosimd,simd", true},
	}
	for _, c := range cases {
		if got := hasExperiment(c.list, "simd"); got != c.want {
			t.Errorf("hasExperiment(%q, simd) = %v, want %v", c.list, got, c.want)
		}
	}
}

func TestProfilePath(t *testing.T) {
	cases := []struct{ in, want string }{
		{"cpu.prof", "cpu-relu.prof"},
		{"/tmp/x/train.pprof", "/tmp/x/train-relu.pprof"},
		{"cpu", "cpu-relu"},
	}
	for _, c := range cases {
		if got := profilePath(c.in, "relu"); got != c.want {
			t.Errorf("profilePath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// testPython is the interpreter the peer tests run.
const testPython = "/usr/bin/python3"

// peerProbe is the outcome of probing one peer script (once per test binary).
type peerProbe struct {
	once   sync.Once
	runner *peerRunner
	skip   string
	err    error
}

var peerProbes = map[string]*peerProbe{mlpPeerScript: {}, unetPeerScript: {}}

// peerOrSkip returns a runner for bench/mlp_peer.py, or skips the test when
// /usr/bin/python3 cannot import torch.
func peerOrSkip(t *testing.T) *peerRunner { return peerOrSkipFor(t, mlpPeerScript) }

// peerOrSkipFor returns a runner for the peer script rel (mlpPeerScript or
// unetPeerScript), or skips the test, saying why, when /usr/bin/python3 is
// missing or cannot import torch (as on CI).
func peerOrSkipFor(t *testing.T, rel string) *peerRunner {
	t.Helper()
	pp := peerProbes[rel]
	pp.once.Do(func() {
		if _, err := exec.LookPath(testPython); err != nil {
			pp.skip = "no " + testPython
			return
		}
		script, err := findPeerScript(rel)
		if err != nil {
			pp.err = err
			return
		}
		p := &peerRunner{python: testPython, script: script}
		if _, err := p.exec("--count-params"); err != nil {
			var ee *exec.ExitError
			if strings.Contains(err.Error(), "PyTorch is not installed") || errors.As(err, &ee) && ee.ExitCode() == exitNoTorch {
				pp.skip = testPython + " lacks torch: " + err.Error()
				return
			}
			pp.err = err
			return
		}
		pp.runner = p
	})
	if pp.skip != "" {
		t.Skip(pp.skip)
	}
	if pp.err != nil {
		t.Fatal(pp.err)
	}
	return pp.runner
}

// TestPeerParamCount compares the parameters of the PyTorch model (counted
// by PyTorch over the modules it built) with unet.MLPConfig.NumParams (a
// closed formula) for the default model and others. The activation has no
// parameters, so one count serves relu and silu.
func TestPeerParamCount(t *testing.T) {
	p := peerOrSkip(t)
	cases := []unet.MLPConfig{
		{},
		{Hidden: 64, Blocks: 2, TimeDim: 32},
		{Hidden: 16, Blocks: 1, TimeDim: 8},
		{Hidden: 32, Blocks: 5, TimeDim: 16},
	}
	args := []string{"--count-params"}
	for _, c := range cases {
		h, b, e := c.Hidden, c.Blocks, c.TimeDim
		if h == 0 {
			h, b, e = 128, 3, 64 // unet.MLPConfig's defaults
		}
		args = append(args, "--config", fmt.Sprintf("%d,%d,%d", h, b, e))
	}
	out, err := p.exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d lines for %d models:\n%s", len(lines), len(cases), out)
	}
	for i, c := range cases {
		var got struct {
			Params int `json:"params"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Fatalf("%+v: %v: %q", c, err, lines[i])
		}
		if want := c.NumParams(); got.Params != want {
			t.Errorf("%+v: the PyTorch model has %d parameters, unet.MLPConfig.NumParams says %d", c, got.Params, want)
		}
	}
}
