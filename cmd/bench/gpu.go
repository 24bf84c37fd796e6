package main

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
)

// backendKind is the kind of compute backend the Go side ran on.
type backendKind int

const (
	kindOther   backendKind = iota // anything not recognised below
	kindPureGo                     // GoMLX's pure-Go backend
	kindXLACPU                     // XLA with its CPU PJRT plugin
	kindXLACUDA                    // XLA with a CUDA PJRT plugin
)

// xlaBackendNames are the compute.Backend names of go-xla's backend.
var xlaBackendNames = []string{"xla", "stablehlo", "shlo", "hlo", "pjrt"}

// backendInfo describes the backend that ran, for the report.
type backendInfo struct {
	kind   backendKind
	name   string // compute.Backend.Name: "Go Backend", "xla"
	plugin string // PJRT plugin ("cpu", "cuda_v0.4.1", a path); "" when not XLA
	desc   string // compute.Backend.Description
	config string // the configuration XLA was started with ("cuda,preallocate=true"); "" when unknown
}

// describeBackend classifies b. go-xla's backend has a PluginName method; a
// backend without one has its plugin read from Description ("xla:PLUGIN - …").
func describeBackend(b compute.Backend) backendInfo {
	plugin := ""
	if p, ok := b.(interface{ PluginName() string }); ok {
		plugin = p.PluginName()
	}
	info := classifyBackend(b.Name(), plugin, b.Description())
	if c, ok := b.(interface{ Config() string }); ok {
		info.config = c.Config()
	}
	return info
}

// classifyBackend tells the backend kind from its name, its PJRT plugin (may
// be "") and its description. A plugin counts as CUDA when its name holds
// "cuda" or "nvidia" in any case (go-xla's pjrt.IsCUDAName), and as the CPU
// plugin when it is "cpu" or a versioned "cpu_v…" (or a path to
// pjrt_c_api_cpu_plugin.so).
func classifyBackend(name, plugin, desc string) backendInfo {
	info := backendInfo{name: name, plugin: plugin, desc: desc}
	switch {
	case name == pureGoBackendName:
		info.kind = kindPureGo
		return info
	case !isXLAName(name):
		return info
	}
	if info.plugin == "" {
		// "xla:cuda_v0.4.1 - <plugin> [1 device(s)]"
		if _, rest, ok := strings.Cut(desc, ":"); ok {
			info.plugin, _, _ = strings.Cut(rest, " ")
		}
	}
	p := strings.ToLower(info.plugin)
	base := p[strings.LastIndexByte(p, '/')+1:]
	switch {
	case strings.Contains(p, "cuda") || strings.Contains(p, "nvidia"):
		info.kind = kindXLACUDA
	case base == "cpu" || strings.HasPrefix(base, "cpu_v") || strings.Contains(base, "_cpu_plugin"):
		info.kind = kindXLACPU
	}
	return info
}

func isXLAName(name string) bool {
	for _, n := range xlaBackendNames {
		if name == n {
			return true
		}
	}
	return false
}

// label names the backend in the table: "pure-Go", "XLA CPU", "XLA CUDA",
// or for others "XLA <plugin>" or the backend's name.
func (bi backendInfo) label() string {
	switch bi.kind {
	case kindPureGo:
		return "pure-Go"
	case kindXLACPU:
		return "XLA CPU"
	case kindXLACUDA:
		return "XLA CUDA"
	}
	if isXLAName(bi.name) && bi.plugin != "" {
		return "XLA " + bi.plugin
	}
	return bi.name
}

// Peer devices (--peer-device).
const (
	deviceCPU  = "cpu"
	deviceCUDA = "cuda"
)

// defaultPeerDevice is the UNet peer's device when --peer-device is not
// given: the GPU when the Go side runs on XLA CUDA (so that both sides run
// on the same GPU), the CPU otherwise.
func defaultPeerDevice(kind backendKind) string {
	if kind == kindXLACUDA {
		return deviceCUDA
	}
	return deviceCPU
}

// throughput is n items (images or samples) per second for a step whose
// median is medianMS milliseconds: n / (medianMS/1000); 0 when medianMS ≤ 0
// or n ≤ 0 (unknown).
func throughput(n int, medianMS float64) float64 {
	if n <= 0 || !(medianMS > 0) {
		return 0
	}
	return float64(n) * 1000 / medianMS
}

// nvidiaSMIQuery are the arguments that list the processes holding GPU
// memory, one "pid, used MiB" line per process and GPU.
var nvidiaSMIQuery = []string{"--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"}

// errNotListed is returned by parseComputeApps when no line has the PID.
var errNotListed = errors.New("not listed")

// parseComputeApps returns the GPU memory, in MiB, that nvidia-smi's
// "pid, used_memory" lines (csv, noheader, nounits) attribute to pid,
// summed over its lines (one per GPU it uses). Lines of other processes,
// blank lines and lines that do not read as "PID, MiB" are skipped; when
// the process is listed but none of its lines has a figure (nvidia-smi
// writes "[N/A]" where it cannot tell, e.g. under MIG), or when it is not
// listed at all (errNotListed), it returns an error.
func parseComputeApps(out string, pid int) (float64, error) {
	var sum float64
	listed, measured := false, false
	for _, line := range strings.Split(out, "\n") {
		pidS, memS, ok := strings.Cut(line, ",")
		if !ok {
			continue
		}
		p, err := strconv.Atoi(strings.TrimSpace(pidS))
		if err != nil || p != pid {
			continue
		}
		listed = true
		mib, err := strconv.ParseFloat(strings.TrimSpace(memS), 64)
		if err != nil || mib < 0 {
			continue
		}
		sum += mib
		measured = true
	}
	switch {
	case !listed:
		return 0, fmt.Errorf("nvidia-smi lists no compute process with PID %d: %w", pid, errNotListed)
	case !measured:
		return 0, fmt.Errorf("nvidia-smi lists PID %d without a memory figure", pid)
	}
	return sum, nil
}

// gpuMeter keeps the largest GPU memory that nvidia-smi attributed to one
// process over several polls. A nil *gpuMeter measures nothing.
type gpuMeter struct {
	// query runs nvidia-smi with nvidiaSMIQuery and returns its output.
	query func() ([]byte, error)
	// pid is the process to look for.
	pid int
	// maxMiB is the largest figure seen since reset, valid when seen.
	maxMiB float64
	seen   bool
	// err is the first failure since reset, reported when nothing was seen.
	err error
}

// newGPUMeter returns a meter that runs nvidia-smi from the PATH for pid,
// or nil and the reason when there is no nvidia-smi.
func newGPUMeter(pid int) (*gpuMeter, error) {
	path, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return nil, fmt.Errorf("nvidia-smi not found: %w", err)
	}
	return &gpuMeter{pid: pid, query: func() ([]byte, error) {
		return exec.Command(path, nvidiaSMIQuery...).Output()
	}}, nil
}

// reset forgets what was seen, to measure the next model on its own.
func (m *gpuMeter) reset() {
	if m != nil {
		m.maxMiB, m.seen, m.err = 0, false, nil
	}
}

// poll asks nvidia-smi once and keeps the maximum.
func (m *gpuMeter) poll() {
	if m == nil {
		return
	}
	out, err := m.query()
	if err == nil {
		var mib float64
		if mib, err = parseComputeApps(string(out), m.pid); err == nil {
			m.maxMiB, m.seen = max(m.maxMiB, mib), true
			return
		}
	} else {
		err = fmt.Errorf("nvidia-smi: %w", err)
	}
	if m.err == nil {
		m.err = err
	}
}

// result returns the maximum seen, or the first failure.
func (m *gpuMeter) result() (float64, error) {
	switch {
	case m == nil:
		return 0, errors.New("GPU memory not measured")
	case m.seen:
		return m.maxMiB, nil
	case m.err != nil:
		return 0, m.err
	}
	return 0, errors.New("nvidia-smi was not asked")
}
