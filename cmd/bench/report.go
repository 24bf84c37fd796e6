package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/godiffusion/diffusion-models/backend"
)

// timing summarises repeated calls, in milliseconds.
type timing struct {
	// Median, Min and Max are over the timed runs.
	Median, Min, Max float64
	// First is the very first call (for the Go side, it compiles the graph).
	First float64
	// Runs is the number of timed runs.
	Runs int
}

// summarize returns the median (the mean of the two middle values for an
// even count), min and max of ms; ms must not be empty.
func summarize(ms []float64) timing {
	s := slices.Clone(ms)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return timing{Median: med, Min: s[0], Max: s[n-1], Runs: n}
}

// partResult holds both sides for one measured model: the MLP with one
// activation, or the UNet (peer nil when it did not run).
type partResult struct {
	label   string // row prefix: the activation, or "unet"
	model   string // "mlp" or "unet"
	batch   int    // training batch
	samples int    // batch of the sampling step
	goSide  sideResult
	peer    *peerResult
}

// environment describes the run, for the report's header.
type environment struct {
	goVersion, simdHow     string
	simd                   bool
	backend                backendInfo
	load                   string
	busy                   float64 // share of the CPUs busy just before the run, or < 0
	unetGo                 string  // the Go UNet's convolution formulation and streams
	gpuNote                string  // why the Go side's GPU memory is not measured at all, on CUDA
	cudaFallback           string  // GOMLX_BACKEND when it named CUDA and the Go side ran on another backend
	torch                  string
	torchThreads           int
	torchBLAS, torchMalloc string      // BLAS of a peer that ran on the CPU ("" if none did), malloc mode
	torchConv              string      // kernel of PyTorch's convolutions (UNet peer)
	torchGPU               *peerResult // a peer that ran on CUDA, or nil
	peerDevices            []string    // the devices the peers ran on, as they report them
	peerNotes              []string    // why a peer did not run
}

const banner = "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"

func simdWarning(how string) string {
	return "WARNING: this binary was built without GOEXPERIMENT=simd (" + how + ").\n" +
		"The pure-Go backend's matrix products then run many times slower and the\n" +
		"Go timings below are not representative. Run: GOEXPERIMENT=simd go run ./cmd/bench"
}

// simdEnabled reports whether this binary was built with GOEXPERIMENT=simd,
// from the build settings (or, failing them, from runtime.Version, which
// lists experiments after "X:"), and says where it looked.
func simdEnabled() (bool, string) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOEXPERIMENT" {
				return hasExperiment(s.Value, "simd"), "build setting GOEXPERIMENT=" + s.Value
			}
		}
	}
	v := runtime.Version()
	if _, list, ok := strings.Cut(v, "X:"); ok {
		list, _, _ = strings.Cut(list, " ")
		return hasExperiment(list, "simd"), "runtime.Version " + v
	}
	return false, "no GOEXPERIMENT build setting; runtime.Version " + v
}

// hasExperiment reports whether the comma-separated GOEXPERIMENT list turns
// name on; a later "noNAME" turns it off again.
func hasExperiment(list, name string) bool {
	on := false
	for _, e := range strings.Split(list, ",") {
		switch strings.TrimSpace(e) {
		case name:
			on = true
		case "no" + name:
			on = false
		}
	}
	return on
}

func goVersionLine() string {
	return fmt.Sprintf("%s %s/%s, GOMAXPROCS %d", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
}

// loadAverage returns the 1, 5 and 15-minute load averages, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuBusy returns the share of all CPU time spent outside idle over d, or
// −1 when unknown. Measured while this process sleeps, it is the load of
// everything else on the machine.
func cpuBusy(d time.Duration) float64 {
	b0, t0, ok0 := procStatCPU()
	time.Sleep(d)
	b1, t1, ok1 := procStatCPU()
	if !ok0 || !ok1 || t1 <= t0 {
		return -1
	}
	return (b1 - b0) / (t1 - t0)
}

// cpuSnapshot is the machine's CPU time and this process's own (with its
// waited-for children), in seconds.
type cpuSnapshot struct {
	busy, total, own float64
	ok               bool
}

// procStatCPU reads the aggregate "cpu" line of /proc/stat: the time spent
// outside idle and iowait, and in all, in seconds (USER_HZ = 100).
func procStatCPU() (busy, total float64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, false
	}
	var idle float64
	for i, s := range f[1:] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, 0, false
		}
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
		if i < 8 { // user … steal; guest time is already counted in user
			total += v
		}
	}
	const userHZ = 100
	return (total - idle) / userHZ, total / userHZ, true
}

func takeCPUSnapshot() cpuSnapshot {
	busy, total, ok := procStatCPU()
	var self, children syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children) != nil {
		ok = false
	}
	sec := func(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
	own := sec(self.Utime) + sec(self.Stime) + sec(children.Utime) + sec(children.Stime)
	return cpuSnapshot{busy: busy, total: total, own: own, ok: ok}
}

// otherCPUShare is the share of all CPU time between a and b that other
// processes used: (Δbusy − Δown)/Δtotal, or −1 when unknown.
func otherCPUShare(a, b cpuSnapshot) float64 {
	if !a.ok || !b.ok || b.total <= a.total {
		return -1
	}
	return max(0, (b.busy-a.busy)-(b.own-a.own)) / (b.total - a.total)
}

// pureGoBackendName is compute.Backend.Name of the pure-Go backend (v0.1.2).
const pureGoBackendName = "Go Backend"

// goColumn names the Go column after the backend that ran: "Go (pure-Go
// backend)", "Go (XLA CPU)", "Go (XLA CUDA)".
func goColumn(bi backendInfo) string {
	if bi.kind == kindPureGo {
		return "Go (pure-Go backend)"
	}
	return "Go (" + bi.label() + ")"
}

// torchColumn names the PyTorch column after its major.minor version ("" if
// no peer ran) and the device of each peer, by model: "PyTorch 1.13 CPU",
// "PyTorch 2.5 CUDA", or "PyTorch 2.5 (mlp: CPU, unet: CUDA)" when they
// differ. devices maps "mlp" and "unet" to "cpu" or "cuda".
func torchColumn(version string, models []string, devices map[string]string) string {
	name := "PyTorch"
	if version != "" {
		parts := strings.SplitN(version, ".", 3)
		if len(parts) >= 2 {
			version = parts[0] + "." + parts[1]
		}
		name += " " + version
	}
	var labels, byModel []string
	for _, m := range models {
		l := strings.ToUpper(devices[m])
		labels = appendNew(labels, l)
		byModel = append(byModel, m+": "+l)
	}
	if len(labels) == 1 {
		return name + " " + labels[0]
	}
	return name + " (" + strings.Join(byModel, ", ") + ")"
}

// preallocates reports whether a backend configuration ("xla:cuda,
// preallocate=true,memory_fraction=0.5") turns XLA's GPU preallocation on:
// a "preallocate" option that is bare or true, and no later
// "preallocate=false" or "nopreallocate" (go-xla v0.4.1's default for CUDA
// plugins is off).
func preallocates(config string) bool {
	_, opts, _ := strings.Cut(config, ",")
	on := false
	for _, o := range strings.Split(opts, ",") {
		k, v, hasV := strings.Cut(strings.TrimSpace(o), "=")
		switch {
		case k == "nopreallocate":
			on = false
		case k == "preallocate" && !hasV:
			on = true
		case k == "preallocate":
			b, err := strconv.ParseBool(v)
			on = err == nil && b
		}
	}
	return on
}

// rate formats a throughput (items per second) with about three
// significant digits and commas ("—" when unknown, ≤ 0).
func rate(v float64) string {
	switch {
	case !(v > 0):
		return "—"
	case v >= 1000:
		return thousands(int(v + 0.5))
	default:
		return ms(v) // the same digits as times
	}
}

// onOff formats a torch.backends flag.
func onOff(b *bool) string {
	switch {
	case b == nil:
		return "unknown"
	case *b:
		return "on"
	}
	return "off"
}

// writeReport prints the header and the table.
func writeReport(w io.Writer, env environment, o options, rows []partResult) {
	unetTitle := fmt.Sprintf("UNet %q (%s parameters, %d×%d×%d random images)", o.unetName, thousands(o.unet.NumParams()),
		o.unet.ImageSize, o.unet.ImageSize, o.unet.InChannels)
	switch {
	case o.has("mlp") && o.has("unet"):
		fmt.Fprintf(w, "# Diffusion models: Go against PyTorch (the 2-D MLP and the %s)\n\n", unetTitle)
	case o.has("unet"):
		fmt.Fprintf(w, "# %s: Go against PyTorch (linear T=1000, ε prediction, Adam lr 2e-4 + EMA 0.9999)\n\n", unetTitle)
	default:
		fmt.Fprintf(w, "# 2-D MLP diffusion model: Go against PyTorch (gaussians8, linear T=1000, ε prediction, Adam + EMA)\n\n")
	}
	if !env.simd {
		fmt.Fprintf(w, "%s\n%s\n%s\n\n", banner, simdWarning(env.simdHow), banner)
	}
	fmt.Fprintf(w, "- Go: %s; %s\n", env.goVersion, env.simdHow)
	fmt.Fprintf(w, "- backend: %s (%s)\n", env.backend.label(), env.backend.desc)
	if env.backend.kind == kindXLACUDA {
		pre := "off (go-xla v0.4.1's default for CUDA)"
		if preallocates(env.backend.config) {
			pre = "on (the backend configuration asks for it)"
		}
		fmt.Fprintf(w, "- XLA CUDA: configuration %q; GPU memory preallocation %s; float32 matrix products (DotGeneral) in TF32 unless the configuration says tf32=false\n",
			env.backend.config, pre)
	}
	if o.has("mlp") && o.has("unet") {
		fmt.Fprintf(w, "- MLP rows (relu, silu): gaussians8, linear T=1000, ε prediction, Adam lr 1e-3 (100 warm-up steps) + EMA 0.995\n")
		fmt.Fprintf(w, "- unet rows: the %s, linear T=1000, ε prediction, Adam lr 2e-4 + EMA 0.9999\n", unetTitle)
	}
	if env.unetGo != "" {
		fmt.Fprintf(w, "- Go UNet: %s\n", env.unetGo)
	}
	if env.torchBLAS != "" {
		fmt.Fprintf(w, "- PyTorch: %s on the CPU, %d threads (torch.set_num_threads), BLAS: %s, malloc: %s; run after the Go side\n",
			env.torch, env.torchThreads, env.torchBLAS, env.torchMalloc)
	}
	if g := env.torchGPU; g != nil {
		fmt.Fprintf(w, "- PyTorch: %s on %s, CUDA %s, TF32 matrix products %s, TF32 convolutions %s (torch.backends defaults); run after the Go side\n",
			g.torchVersion, g.device, g.cuda, onOff(g.tf32Matmul), onOff(g.tf32Conv))
	}
	if env.torchConv != "" {
		fmt.Fprintf(w, "- PyTorch convolutions: %s\n", env.torchConv)
	}
	busy := "unknown"
	if env.busy >= 0 {
		busy = fmt.Sprintf("%.0f%%", 100*env.busy)
	}
	fmt.Fprintf(w, "- load average at start: %s; CPU busy with other work just before: %s\n", env.load, busy)
	fmt.Fprintf(w, "- times in ms: median [min–max] of %d timed runs after %d warm-up runs\n\n", o.runs, o.warmup)

	devices := map[string]string{"mlp": deviceCPU, "unet": o.peerDevice}
	if devices["unet"] == "" {
		devices["unet"] = defaultPeerDevice(env.backend.kind)
	}
	goCUDA := env.backend.kind == kindXLACUDA
	var busyParts, gpuParts []string
	showGPUNote, mixed := false, false
	fmt.Fprintf(w, "| measurement | %s | %s | Go/PyTorch |\n", goColumn(env.backend), torchColumn(env.torch, o.models, devices))
	fmt.Fprintf(w, "|---|---:|---:|---:|\n")
	for _, r := range rows {
		g, p := r.goSide, r.peer
		row := func(name, gv, pv, ratio string) {
			fmt.Fprintf(w, "| %s: %s | %s | %s | %s |\n", r.label, name, gv, pv, ratio)
		}
		pick := func(f func(sideResult) string) string {
			if p == nil {
				return "—"
			}
			return f(p.sideResult)
		}
		ratio := func(gv float64, f func(sideResult) float64) string {
			if p == nil || f(p.sideResult) <= 0 || gv <= 0 {
				return "—"
			}
			return fmt.Sprintf("%.2f×", gv/f(p.sideResult))
		}
		unit := "samples"
		if r.model == "unet" {
			unit = "images"
		}
		// measure writes a row that shows both sides with text and compares them by value.
		measure := func(name string, text func(sideResult) string, value func(sideResult) float64) {
			row(name, text(g), pick(text), ratio(value(g), value))
		}
		trainRate := func(s sideResult) float64 { return throughput(r.batch, s.train.Median) }
		sampleRate := func(s sideResult) float64 { return throughput(r.samples, s.sample.Median) }
		measure("parameters", func(s sideResult) string { return thousands(s.params) },
			func(s sideResult) float64 { return float64(s.params) })
		measure(fmt.Sprintf("train step, batch %d", r.batch), func(s sideResult) string { return s.train.String() },
			func(s sideResult) float64 { return s.train.Median })
		measure(fmt.Sprintf("training throughput (%s/s)", unit), func(s sideResult) string { return rate(trainRate(s)) }, trainRate)
		measure("first train step (Go: + graph compilation)", func(s sideResult) string { return ms(s.train.First) },
			func(s sideResult) float64 { return s.train.First })
		measure(fmt.Sprintf("DDPM sample step, %d %s", r.samples, unit), func(s sideResult) string { return s.sample.String() },
			func(s sideResult) float64 { return s.sample.Median })
		measure(fmt.Sprintf("sampling throughput (%s/s)", unit), func(s sideResult) string { return rate(sampleRate(s)) }, sampleRate)
		measure("first sample step (Go: + graph compilation)", func(s sideResult) string { return ms(s.sample.First) },
			func(s sideResult) float64 { return s.sample.First })
		measure("peak RSS (MiB)", func(s sideResult) string { return mib(s.peakRSSMiB) },
			func(s sideResult) float64 { return s.peakRSSMiB })
		peerGPU := p != nil && p.onGPU()
		if goCUDA || peerGPU || (r.model == "unet" && devices["unet"] == deviceCUDA) {
			showGPUNote = true
			goGPU, peerSMI, gpuRatio := "—", "—", "—"
			if goCUDA {
				goGPU = mib(g.gpuMiB)
				if g.gpuErr != "" {
					gpuParts = append(gpuParts, r.label+": "+g.gpuErr)
				}
			}
			if peerGPU {
				peerSMI = mib(p.gpuSMIMiB)
				if goCUDA && g.gpuMiB > 0 && p.gpuSMIMiB > 0 {
					gpuRatio = fmt.Sprintf("%.2f×", g.gpuMiB/p.gpuSMIMiB)
				}
			}
			row("GPU memory held by the process, nvidia-smi (MiB)", goGPU, peerSMI, gpuRatio)
			if peerGPU {
				row("GPU memory, torch peak allocated (MiB)", "—", mib(p.gpuAllocMiB), "—")
				row("GPU memory, torch peak reserved (MiB)", "—", mib(p.gpuReservedMiB), "—")
			}
		}
		if p != nil && goCUDA != peerGPU {
			mixed = true
		}
		row("CPU used by other processes meanwhile", share(g.otherCPU), pick(func(s sideResult) string { return share(s.otherCPU) }), "—")
		for _, s := range []sideResult{g, pickSide(p)} {
			if s.otherCPU > busyLimit {
				busyParts = append(busyParts, r.label)
				break
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Peak RSS: the high-water mark of each process's resident memory (Go: VmHWM, reset before each model through")
	fmt.Fprintln(w, "/proc/self/clear_refs; PyTorch: one process per model, including the ~200 MiB of libtorch; unet_peer.py reads")
	fmt.Fprintln(w, "VmHWM, mlp_peer.py getrusage maxrss, which also holds the Go side's peak at the moment the peer started).")
	fmt.Fprintln(w, "CPU used by other processes: their share of the machine's CPU time while each side ran (/proc/stat less")
	fmt.Fprintln(w, "this command's and the peer's own CPU time); above a few per cent the timings are inflated.")
	fmt.Fprintln(w, "Throughput: images (UNet) or samples (MLP) per second of one step, batch / median time; its ratio is")
	fmt.Fprintln(w, "Go's throughput over PyTorch's (above 1× Go is faster), the time ratios the other way round.")
	if goCUDA {
		fmt.Fprintln(w, "Timings on the GPU: a Go call returns once XLA's device-complete events have fired, and the peer calls")
		fmt.Fprintln(w, "torch.cuda.synchronize() after each step, so both time the GPU's work; each training batch is copied")
		fmt.Fprintln(w, "from the host inside the step on both sides.")
	}
	if showGPUNote {
		fmt.Fprintln(w, "GPU memory: nvidia-smi's figure is what the process holds on the GPU, polled after the timed runs of")
		fmt.Fprintln(w, "each step (the larger kept): the CUDA context (a few hundred MiB) plus what its allocator has reserved")
		fmt.Fprintln(w, "and keeps for reuse, not what the model needs. go-xla v0.4.1 starts CUDA plugins with preallocate=false")
		fmt.Fprintln(w, "(its package comment says the default is true; the code passes false), so XLA's BFC allocator grows on")
		fmt.Fprintln(w, "demand and keeps its high-water mark, and memory left by an earlier model (--model all) stays counted.")
		fmt.Fprintln(w, "GOMLX_BACKEND=xla:cuda,preallocate=true makes XLA take memory_fraction (0.75 unless set, e.g.")
		fmt.Fprintln(w, "xla:cuda,preallocate=true,memory_fraction=0.5) of the GPU at start, and the figure then measures that;")
		fmt.Fprintln(w, "xla:cuda,allocator=cuda_async allocates buffer by buffer. JAX's XLA_PYTHON_CLIENT_PREALLOCATE and")
		fmt.Fprintln(w, "XLA_PYTHON_CLIENT_MEM_FRACTION are read by JAX's Python code, not by the plugin: they change nothing")
		fmt.Fprintln(w, "here. torch: peak allocated is the most memory its live tensors took, peak reserved what its caching")
		fmt.Fprintln(w, "allocator held. Inside a container nvidia-smi may list host PIDs, and then no process matches (\"unknown\").")
	}
	if env.cudaFallback != "" {
		fmt.Fprintf(w, "WARNING: %s=%s asked for XLA CUDA, but the Go side ran on the %s backend (XLA CUDA did not start;\n",
			backend.EnvVar, env.cudaFallback, env.backend.label())
		fmt.Fprintln(w, "the backend line on stderr says why).")
	}
	if env.gpuNote != "" {
		fmt.Fprintf(w, "Note: %s; the Go side's GPU memory is not measured.\n", env.gpuNote)
	}
	for _, gp := range gpuParts {
		fmt.Fprintf(w, "Note: the Go side's GPU memory for %s.\n", gp)
	}
	if mixed {
		fmt.Fprintln(w, "WARNING: one side ran on the GPU and the other on the CPU: the ratios compare devices, not implementations")
		fmt.Fprintln(w, "(--peer-device chooses the UNet peer's; the MLP peer always runs on the CPU).")
	}
	if len(busyParts) > 0 {
		fmt.Fprintf(w, "WARNING: other processes used over %.0f%% of the CPUs while %s was measured: those timings are inflated.\n",
			100*busyLimit, strings.Join(busyParts, ", "))
	}
	if strings.HasPrefix(env.torchBLAS, "reference") {
		fmt.Fprintln(w, "WARNING: PyTorch ran its matrix products on the reference (netlib) BLAS, about 10× slower than an")
		fmt.Fprintln(w, "optimised one: the comparison flatters Go. Install libopenblas0-openmp, or extract it and pass")
		fmt.Fprintln(w, "--peer-env LD_LIBRARY_PATH=<dir holding its libblas.so.3> (see bench/README.md).")
		if o.has("unet") {
			fmt.Fprintln(w, "(In the UNet only the Linear layers and the attention products use the BLAS; its convolutions run on")
			fmt.Fprintln(w, "the kernel named above.)")
		}
	}
	if env.torchConv != "" && !strings.HasPrefix(env.torchConv, "oneDNN") && env.torchConv != "cuDNN" {
		fmt.Fprintf(w, "WARNING: PyTorch's convolutions ran on %s, not oneDNN: PyTorch is slower than it can be.\n", env.torchConv)
	}
	for _, n := range env.peerNotes {
		fmt.Fprintf(w, "Note: %s.\n", n)
	}
}

// String formats a timing as "median [min–max]".
func (t timing) String() string {
	return fmt.Sprintf("%s [%s–%s]", ms(t.Median), ms(t.Min), ms(t.Max))
}

// ms formats milliseconds with three significant digits (at least one decimal below 100).
func ms(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// pickSide returns the peer's measurements, or none.
func pickSide(p *peerResult) sideResult {
	if p == nil {
		return sideResult{otherCPU: -1}
	}
	return p.sideResult
}

// share formats a fraction as a percentage ("unknown" when negative).
func share(v float64) string {
	if v < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func mib(v float64) string {
	if v <= 0 {
		return "unknown"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// thousands formats n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
