package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/unet"
)

// TestThroughput checks n/median against quotients worked out by hand.
func TestThroughput(t *testing.T) {
	cases := []struct {
		n        int
		medianMS float64
		want     float64
	}{
		{64, 1000, 64},           // 64 images in one second
		{64, 500, 128},           // in half a second
		{16, 4, 4000},            // 16 images in 4 ms
		{2000, 12.5, 160000},     // the MLP's sampling batch
		{3, 7, 428.571428571429}, // 3000/7
		{64, 0, 0},               // unknown time
		{64, -1, 0},
		{64, math.NaN(), 0},
		{0, 10, 0},
	}
	for _, c := range cases {
		got := throughput(c.n, c.medianMS)
		if math.Abs(got-c.want) > 1e-9*math.Max(1, c.want) {
			t.Errorf("throughput(%d, %v) = %v, want %v", c.n, c.medianMS, got, c.want)
		}
	}
}

func TestRate(t *testing.T) {
	cases := []struct {
		v    float64
		want string
	}{
		{0, "—"},
		{-3, "—"},
		{math.NaN(), "—"},
		{1.234, "1.23"},
		{42.44, "42.4"},
		{128, "128"},
		{999.4, "999"},
		{4000, "4,000"},
		{160000.4, "160,000"},
		{1234567.6, "1,234,568"},
	}
	for _, c := range cases {
		if got := rate(c.v); got != c.want {
			t.Errorf("rate(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

// TestParseComputeApps feeds canned nvidia-smi output (csv, noheader,
// nounits: "pid, used MiB") with other processes, malformed lines and a
// process on two GPUs.
func TestParseComputeApps(t *testing.T) {
	cases := []struct {
		name    string
		out     string
		pid     int
		want    float64
		wantErr string
	}{
		{"alone", "4242, 1536\n", 4242, 1536, ""},
		{"among others", "17, 20000\n4242, 812\n99, 300\n", 4242, 812, ""},
		{"no spaces, CRLF", "17,20000\r\n4242,812\r\n", 4242, 812, ""},
		{"two GPUs", "4242, 1000\n17, 5\n4242, 250\n", 4242, 1250, ""},
		{"PID is a prefix of another", "42420, 5000\n424, 7\n", 4242, 0, "no compute process with PID 4242"},
		{"malformed lines skipped", "garbage\n\n4242\n, 100\nabc, 5\n4242, 640\n4242, ,\n", 4242, 640, ""},
		{"N/A figure", "4242, [N/A]\n17, 100\n", 4242, 0, "without a memory figure"},
		{"N/A on one GPU only", "4242, [N/A]\n4242, 300\n", 4242, 300, ""},
		{"negative figure rejected", "4242, -5\n", 4242, 0, "without a memory figure"},
		{"empty (no compute process)", "", 4242, 0, "no compute process"},
		{"other PIDs only", "1, 100\n2, 200\n", 4242, 0, "no compute process"},
		{"nvidia-smi's message", "No running processes found\n", 4242, 0, "no compute process"},
	}
	for _, c := range cases {
		got, err := parseComputeApps(c.out, c.pid)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: error %v, want %v MiB", c.name, err, c.want)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: got %v, %v, want an error mentioning %q", c.name, got, err, c.wantErr)
		case got != c.want:
			t.Errorf("%s: got %v MiB, want %v", c.name, got, c.want)
		}
	}
	if _, err := parseComputeApps("1, 100\n", 4242); !errors.Is(err, errNotListed) {
		t.Errorf("an unlisted PID: error %v, want one wrapping errNotListed", err)
	}
}

// TestGPUMeter polls a fake nvidia-smi whose answers change from call to
// call: the meter keeps the largest figure for its PID, ignores failed polls
// once something was seen, reports the first failure otherwise, and starts
// afresh after reset.
func TestGPUMeter(t *testing.T) {
	answers := []struct {
		out string
		err error
	}{
		{"7, 900\n", nil},          // our process not yet listed
		{"", errors.New("exit 9")}, // nvidia-smi fails once
		{"7, 900\n10, 300\n", nil},
		{"10, 1200\n", nil},
		{"10, 700\n", nil}, // the maximum is kept
	}
	i := 0
	m := &gpuMeter{pid: 10, query: func() ([]byte, error) {
		a := answers[i]
		i++
		return []byte(a.out), a.err
	}}
	for range answers {
		m.poll()
	}
	if got, err := m.result(); err != nil || got != 1200 {
		t.Errorf("after %d polls: %v, %v, want 1200 MiB", len(answers), got, err)
	}
	m.reset()
	if _, err := m.result(); err == nil {
		t.Error("after reset, without a poll: no error")
	}
	i = 0
	m.poll() // not listed
	m.poll() // fails
	if _, err := m.result(); err == nil || !errors.Is(err, errNotListed) {
		t.Errorf("nothing seen: error %v, want the first failure (not listed)", err)
	}
	var nilMeter *gpuMeter
	nilMeter.poll()
	nilMeter.reset()
	if _, err := nilMeter.result(); err == nil {
		t.Error("a nil meter reported a figure")
	}
}

// TestClassifyBackend checks the backend kinds and labels, and the UNet
// peer's default device, for the backends package backend can start.
func TestClassifyBackend(t *testing.T) {
	cases := []struct {
		name, plugin, desc string
		kind               backendKind
		label, column      string
		peer               string
	}{
		{"Go Backend", "", "Go Portable Backend", kindPureGo, "pure-Go", "Go (pure-Go backend)", deviceCPU},
		{"xla", "cpu", "xla:cpu - PJRT \"cpu\" plugin [1 device(s)]", kindXLACPU, "XLA CPU", "Go (XLA CPU)", deviceCPU},
		{"xla", "cpu_v0.83.1", "", kindXLACPU, "XLA CPU", "Go (XLA CPU)", deviceCPU},
		{"xla", "cuda", "", kindXLACUDA, "XLA CUDA", "Go (XLA CUDA)", deviceCUDA},
		{"xla", "cuda_v0.4.1", "", kindXLACUDA, "XLA CUDA", "Go (XLA CUDA)", deviceCUDA},
		{"xla", "/opt/jax/pjrt_c_api_cuda_plugin.so", "", kindXLACUDA, "XLA CUDA", "Go (XLA CUDA)", deviceCUDA},
		{"xla", "/opt/x/pjrt_c_api_cpu_plugin.so", "", kindXLACPU, "XLA CPU", "Go (XLA CPU)", deviceCPU},
		{"xla", "NVIDIA_gpu", "", kindXLACUDA, "XLA CUDA", "Go (XLA CUDA)", deviceCUDA},
		// No PluginName method: the plugin is read from the description.
		{"xla", "", "xla:cuda_v0.4.1 - PJRT plugin [1 device(s)]", kindXLACUDA, "XLA CUDA", "Go (XLA CUDA)", deviceCUDA},
		{"xla", "", "xla:cpu - PJRT [1 device(s)]", kindXLACPU, "XLA CPU", "Go (XLA CPU)", deviceCPU},
		{"xla", "rocm", "", kindOther, "XLA rocm", "Go (XLA rocm)", deviceCPU},
		{"tpu-thing", "", "", kindOther, "tpu-thing", "Go (tpu-thing)", deviceCPU},
		// "cuda" in another backend's name does not make it XLA CUDA.
		{"cudafake", "cuda", "", kindOther, "cudafake", "Go (cudafake)", deviceCPU},
	}
	for _, c := range cases {
		bi := classifyBackend(c.name, c.plugin, c.desc)
		if bi.kind != c.kind || bi.label() != c.label || goColumn(bi) != c.column {
			t.Errorf("classifyBackend(%q, %q, %q): kind %d, label %q, column %q; want %d, %q, %q",
				c.name, c.plugin, c.desc, bi.kind, bi.label(), goColumn(bi), c.kind, c.label, c.column)
		}
		if got := defaultPeerDevice(bi.kind); got != c.peer {
			t.Errorf("%s %s: default peer device %q, want %q", c.name, c.plugin, got, c.peer)
		}
	}
}

func TestPreallocates(t *testing.T) {
	cases := []struct {
		config string
		want   bool
	}{
		{"", false},
		{"cuda", false},
		{"cuda,preallocate", true},
		{"cuda,preallocate=true,memory_fraction=0.5", true},
		{"cuda,preallocate=1", true},
		{"cuda,preallocate=false", false},
		{"cuda,nopreallocate", false},
		{"cuda,preallocate,nopreallocate", false},
		{"cuda,preallocate=maybe", false},
		{"cuda,allocator=cuda_async", false},
		{"preallocate", false}, // a plugin named so, no options
	}
	for _, c := range cases {
		if got := preallocates(c.config); got != c.want {
			t.Errorf("preallocates(%q) = %v, want %v", c.config, got, c.want)
		}
	}
}

func TestTorchColumn(t *testing.T) {
	cases := []struct {
		version string
		models  []string
		unetDev string
		want    string
	}{
		{"1.13.0a0", []string{"mlp"}, deviceCUDA, "PyTorch 1.13 CPU"},
		{"1.13.0a0", []string{"unet"}, deviceCPU, "PyTorch 1.13 CPU"},
		{"2.5.1+cu124", []string{"unet"}, deviceCUDA, "PyTorch 2.5 CUDA"},
		{"2.5.1+cu124", []string{"mlp", "unet"}, deviceCUDA, "PyTorch 2.5 (mlp: CPU, unet: CUDA)"},
		{"2.5.1", []string{"mlp", "unet"}, deviceCPU, "PyTorch 2.5 CPU"},
		{"", []string{"unet"}, deviceCUDA, "PyTorch CUDA"},
	}
	for _, c := range cases {
		got := torchColumn(c.version, c.models, map[string]string{"mlp": deviceCPU, "unet": c.unetDev})
		if got != c.want {
			t.Errorf("torchColumn(%q, %v, unet on %s) = %q, want %q", c.version, c.models, c.unetDev, got, c.want)
		}
	}
}

func TestBadPeerDevice(t *testing.T) {
	var errb bytes.Buffer
	if _, err := parseFlags([]string{"--peer-device", "gpu"}, &errb); err == nil || !strings.Contains(err.Error(), "--peer-device") {
		t.Errorf("--peer-device gpu: error %v, want one naming the flag", err)
	}
	for _, d := range []string{"cpu", "cuda"} {
		if o, err := parseFlags([]string{"--peer-device", d}, &errb); err != nil || o.peerDevice != d {
			t.Errorf("--peer-device %s: %v, %q", d, err, o.peerDevice)
		}
	}
}

func TestParsePeerGPU(t *testing.T) {
	base := `{"measurement": "info", "torch": "2.5.1", "threads": 2, "params": 1152193, "blas": "cuBLAS", "conv": "cuDNN", "malloc": "keep", "device": "cuda (NVIDIA H100 80GB HBM3)", "cuda": "12.4", "tf32_matmul": false, "tf32_conv": true}
{"measurement": "train_step", "median_ms": 20, "min_ms": 19, "max_ms": 22, "first_ms": 900, "runs": 20}
{"measurement": "sample_step", "median_ms": 4, "min_ms": 3.9, "max_ms": 5, "first_ms": 30, "runs": 20}
{"measurement": "peak_rss", "mib": 2100}
`
	if _, err := parsePeer([]byte(base)); err == nil || !strings.Contains(err.Error(), "gpu_memory") {
		t.Errorf("a CUDA peer without its gpu_memory line: error %v, want one naming it", err)
	}
	r, err := parsePeer([]byte(base + `{"measurement": "gpu_memory", "allocated_mib": 612.5, "reserved_mib": 802, "smi_mib": null}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.onGPU() || r.cuda != "12.4" || r.tf32Matmul == nil || *r.tf32Matmul || r.tf32Conv == nil || !*r.tf32Conv ||
		r.gpuAllocMiB != 612.5 || r.gpuReservedMiB != 802 || r.gpuSMIMiB != 0 {
		t.Errorf("parsePeer read %+v", r)
	}
	cpu := strings.Replace(base, `"device": "cuda (NVIDIA H100 80GB HBM3)"`, `"device": "cpu"`, 1)
	if r, err := parsePeer([]byte(cpu)); err != nil || r.onGPU() {
		t.Errorf("a CPU peer without gpu_memory: %v, on GPU %v", err, r.onGPU())
	}
}

// TestReportThroughputAndGPU writes the table for made-up measurements of
// a Go side on XLA CUDA and a peer on the GPU, and checks the cells worked
// out by hand: 64 images in 500 ms are 128 images/s, in 250 ms 256; 16 in
// 4 ms 4,000/s, in 8 ms 2,000/s; 1500 MiB against 1000 MiB is 1.50×.
func TestReportThroughputAndGPU(t *testing.T) {
	o, err := parseFlags([]string{"--model", "unet"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	o.peerDevice = deviceCUDA
	yes, no := true, false
	peer := &peerResult{
		sideResult: sideResult{params: 7, train: timing{Median: 250, Min: 240, Max: 260, First: 900, Runs: 3},
			sample: timing{Median: 8, Min: 8, Max: 9, First: 40, Runs: 3}, peakRSSMiB: 2000, otherCPU: 0},
		torchVersion: "2.5.1", device: "cuda (NVIDIA H100)", cuda: "12.4", tf32Matmul: &no, tf32Conv: &yes,
		gpuAllocMiB: 600, gpuReservedMiB: 800, gpuSMIMiB: 1000,
	}
	part := partResult{label: "unet", model: "unet", batch: 64, samples: 16, peer: peer,
		goSide: sideResult{params: 7, train: timing{Median: 500, Min: 490, Max: 510, First: 5000, Runs: 3},
			sample: timing{Median: 4, Min: 4, Max: 5, First: 3000, Runs: 3}, peakRSSMiB: 900, gpuMiB: 1500}}
	env := environment{backend: classifyBackend("xla", "cuda_v0.4.1", ""), torch: "2.5.1", torchGPU: peer,
		goVersion: "go", simd: true, busy: -1}
	var out bytes.Buffer
	writeReport(&out, env, o, []partResult{part})
	s := out.String()
	if !strings.Contains(s, "| measurement | Go (XLA CUDA) | PyTorch 2.5 CUDA | Go/PyTorch |") {
		t.Errorf("header does not name XLA CUDA and PyTorch on CUDA:\n%s", s)
	}
	want := map[string][]string{
		"training throughput (images/s)":                   {"128", "256", "0.50×"},
		"sampling throughput (images/s)":                   {"4,000", "2,000", "2.00×"},
		"GPU memory held by the process, nvidia-smi (MiB)": {"1500", "1000", "1.50×"},
		"GPU memory, torch peak allocated (MiB)":           {"—", "600", "—"},
		"GPU memory, torch peak reserved (MiB)":            {"—", "800", "—"},
		"train step, batch 64":                             {"500 [490–510]", "250 [240–260]", "2.00×"},
	}
	for name, cells := range want {
		r := tableRow(t, s, "unet", name)
		if r[1] != cells[0] || r[2] != cells[1] || r[3] != cells[2] {
			t.Errorf("%s: cells %q, want %q", name, r[1:], cells)
		}
	}
	for _, note := range []string{"preallocate=false", "preallocation off", "torch.cuda.synchronize", "TF32 matrix products off"} {
		if !strings.Contains(s, note) {
			t.Errorf("the report lacks %q:\n%s", note, s)
		}
	}
	if strings.Contains(s, "WARNING: one side ran on the GPU") {
		t.Errorf("both sides on the GPU, yet the mixed-device warning:\n%s", s)
	}

	// Go on the GPU without a nvidia-smi figure, the peer on the CPU.
	part.goSide.gpuMiB, part.goSide.gpuErr = 0, "nvidia-smi lists no compute process with PID 5"
	cpuPeer := *peer
	cpuPeer.device, cpuPeer.gpuSMIMiB = deviceCPU, 0
	part.peer = &cpuPeer
	o.peerDevice = deviceCPU
	env.torchGPU = nil
	out.Reset()
	writeReport(&out, env, o, []partResult{part})
	s = out.String()
	if r := tableRow(t, s, "unet", "GPU memory held"); r[1] != "unknown" || r[2] != "—" || r[3] != "—" {
		t.Errorf("GPU memory row %q, want unknown | — | —", r)
	}
	for _, note := range []string{"no compute process with PID 5", "WARNING: one side ran on the GPU", "PyTorch 2.5 CPU"} {
		if !strings.Contains(s, note) {
			t.Errorf("the report lacks %q:\n%s", note, s)
		}
	}
	if strings.Contains(s, "torch peak allocated") {
		t.Errorf("torch's GPU rows for a CPU peer:\n%s", s)
	}

	// Everything on the CPU: no GPU rows, no GPU notes.
	env.backend = classifyBackend(pureGoBackendName, "", "")
	part.goSide.gpuErr = ""
	out.Reset()
	writeReport(&out, env, o, []partResult{part})
	s = out.String()
	for _, absent := range []string{"GPU memory", "WARNING: one side", "XLA CUDA"} {
		if strings.Contains(s, absent) {
			t.Errorf("a CPU-only report mentions %q:\n%s", absent, s)
		}
	}
	if r := tableRow(t, s, "unet", "training throughput"); r[1] != "128" || r[2] != "256" {
		t.Errorf("CPU throughput row %q", r)
	}
}

// fakePeer writes a shell script standing in for unet_peer.py: it appends
// its arguments to a log, exits with status exit when that is not 0, and
// otherwise answers --count-params or prints canned measurements of a CUDA
// peer with params parameters.
func fakePeer(t *testing.T, exit, params int) (script, log string) {
	t.Helper()
	dir := t.TempDir()
	script, log = filepath.Join(dir, "fake_peer.sh"), filepath.Join(dir, "args.log")
	body := fmt.Sprintf(`echo "$*" >> %q
if [ %d -ne 0 ]; then echo "fake: no CUDA here" >&2; exit %d; fi
case " $* " in *" --count-params "*) echo '{"config": "small", "params": %d}'; exit 0;; esac
echo '{"measurement": "info", "torch": "2.5.1", "threads": 2, "params": %d, "blas": "cuBLAS", "conv": "cuDNN", "malloc": "keep", "device": "cuda (Fake GPU)", "cuda": "12.4", "tf32_matmul": false, "tf32_conv": true}'
echo '{"measurement": "train_step", "median_ms": 2, "min_ms": 2, "max_ms": 2, "first_ms": 9, "runs": 1}'
echo '{"measurement": "sample_step", "median_ms": 1, "min_ms": 1, "max_ms": 1, "first_ms": 5, "runs": 1}'
echo '{"measurement": "peak_rss", "mib": 300}'
echo '{"measurement": "gpu_memory", "allocated_mib": 50, "reserved_mib": 64, "smi_mib": 420}'
`, log, exit, exit, params, params)
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return script, log
}

// TestPeerDeviceReachesPeer runs the command (the small UNet, one run)
// with a fake peer that claims a GPU, and checks that --peer-device cuda
// reached both the probe and the measurement, that its GPU figures land in
// the table, and that a peer refusing CUDA (exit status 4) fails
// --require-peer before anything is timed.
func TestPeerDeviceReachesPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a UNet training step (seconds); skipped with -short")
	}
	sh, err := exec.LookPath("/bin/sh")
	if err != nil {
		t.Skip("no /bin/sh")
	}
	small, err := unet.UNetConfigByName("small")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--model", "unet", "--unet-config", "small", "--unet-batch", "4", "--unet-samples", "2",
		"--runs", "1", "--warmup", "0", "--python", sh, "--peer-device", "cuda"}

	script, log := fakePeer(t, exitNoCUDA, small.NumParams())
	var out, errb bytes.Buffer
	err = run(append(args, "--unet-peer-script", script, "--require-peer"), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "cannot run on CUDA") || !strings.Contains(err.Error(), "fake: no CUDA here") {
		t.Errorf("a peer without CUDA under --require-peer: error %v, want one saying it cannot run on CUDA, with its message", err)
	}
	if out.Len() > 0 {
		t.Errorf("--require-peer printed a table:\n%s", out.String())
	}

	script, log = fakePeer(t, 0, small.NumParams())
	out.Reset()
	errb.Reset()
	if err := run(append(args, "--unet-peer-script", script), &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	calls := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(calls) != 2 || !strings.Contains(calls[0], "--count-params") {
		t.Fatalf("the peer was called %d times (%q), want a probe then a measurement", len(calls), calls)
	}
	for _, c := range calls {
		if !strings.Contains(" "+c+" ", " --device cuda ") {
			t.Errorf("peer call %q lacks --device cuda", c)
		}
	}
	s := out.String()
	if r := tableRow(t, s, "unet", "GPU memory held"); r[2] != "420" {
		t.Errorf("GPU memory row %q, want the peer's 420 MiB", r)
	}
	if r := tableRow(t, s, "unet", "sampling throughput"); r[2] != "2,000" {
		t.Errorf("peer sampling throughput %q, want 2 images / 1 ms = 2,000/s", r[2])
	}
	if !strings.Contains(s, "WARNING: one side ran on the GPU") {
		t.Errorf("Go on the CPU against a GPU peer without a warning:\n%s", s)
	}
}

// TestUNetPeerWithoutCUDA asks the real unet_peer.py for --device cuda. With
// a torch that has no CUDA (Debian's) the command must still print the Go
// side's table, with a note saying why the peer did not run.
func TestUNetPeerWithoutCUDA(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a UNet training step (seconds); skipped with -short")
	}
	peerOrSkipFor(t, unetPeerScript) // skips without torch
	var out, errb bytes.Buffer
	args := []string{"--model", "unet", "--unet-config", "small", "--unet-batch", "4", "--unet-samples", "2",
		"--runs", "1", "--warmup", "0", "--python", testPython, "--peer-device", "cuda"}
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	s := out.String()
	if strings.Contains(s, "| PyTorch 2") || strings.Contains(s, "TF32 matrix products") {
		t.Skip(testPython + "'s torch ran on CUDA here; the error path is not reachable")
	}
	if !strings.Contains(s, "PyTorch peer not run: PyTorch in "+testPython+" cannot run on CUDA") {
		t.Errorf("the report does not say that the peer cannot use CUDA:\n%s", s)
	}
	if !strings.Contains(s, "without CUDA") && !strings.Contains(s, "sees no usable GPU") {
		t.Errorf("the note does not carry the peer's reason:\n%s", s)
	}
	if r := tableRow(t, s, "unet", "train step"); r[1] == "—" || r[2] != "—" {
		t.Errorf("train row %q: want the Go time and — for PyTorch", r)
	}
}

// TestCUDAFallbackReported asks for XLA CUDA where it cannot start (no GPU
// or no plugin): package backend falls back to the pure-Go backend, and the
// table must say so in its Go column and in a warning rather than pass the
// CPU run off as a GPU one.
func TestCUDAFallbackReported(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "xla:cuda")
	var out, errb bytes.Buffer
	args := []string{"--activation", "relu", "--samples", "10", "--batch", "8", "--runs", "1", "--warmup", "0", "--no-peer"}
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	s := out.String()
	if strings.Contains(s, "| Go (XLA CUDA) |") {
		t.Skip("XLA CUDA started here; the fallback is not reachable")
	}
	for _, want := range []string{"| measurement | Go (pure-Go backend) |", "WARNING: GOMLX_BACKEND=xla:cuda asked for XLA CUDA, but the Go side ran on the pure-Go backend"} {
		if !strings.Contains(s, want) {
			t.Errorf("the report lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "GPU memory") {
		t.Errorf("GPU memory rows for a pure-Go run with a CPU peer device:\n%s", s)
	}
}
