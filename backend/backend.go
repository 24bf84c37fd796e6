// Package backend chooses the GoMLX compute backend for every command, test
// and notebook of this repository, in one place.
//
// The rule, applied by [New]:
//
//  1. If GOMLX_BACKEND is set, it names the backend ("go", "xla:cuda",
//     "xla:/abs/path/pjrt_c_api_cuda_plugin.so", ...). A bare "go" is run as
//     "go:parallelism=-1" (see below).
//  2. Otherwise, if this binary was built with XLA (CGO and no "noxla" tag) and
//     a PJRT plugin is installed, XLA runs with that plugin (CUDA preferred).
//  3. Otherwise the pure-Go backend runs.
//
// If an XLA start fails, New falls back to the pure-Go backend instead of
// failing. The automatic download of PJRT plugins is disabled: no command ever
// hangs on a download. New writes one line to stderr saying which backend runs
// and why.
//
// The pure-Go backend is run with "parallelism=-1": with its default worker
// pool, gomlx/compute v0.1.2 can deadlock when several large matrix
// multiplications run at once.
package backend

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
)

// EnvVar is the environment variable that names the backend explicitly.
const EnvVar = compute.ConfigEnvVar

// GoConfig is the configuration used for the pure-Go backend.
const GoConfig = "go:parallelism=-1"

// Log is where New writes its one line about the chosen backend.
// Set it to io.Discard to silence it.
var Log io.Writer = os.Stderr

// New returns a backend chosen as the package documentation describes.
func New() (compute.Backend, error) {
	config, reason := choose()
	b, err := start(config)
	if err == nil {
		fmt.Fprintf(Log, "backend: %s (%s)\n", describe(config), reason)
		return b, nil
	}
	if strings.HasPrefix(config, "go") {
		return nil, fmt.Errorf("backend: starting %q (%s): %w", config, reason, err)
	}
	gb, gerr := start(GoConfig)
	if gerr != nil {
		return nil, fmt.Errorf("backend: starting %q failed (%v), and the pure-Go fallback failed too: %w", config, err, gerr)
	}
	fmt.Fprintf(Log, "backend: %s failed to start (%v); falling back to the pure-Go backend (%s)\n",
		config, firstLine(err), GoConfig)
	return gb, nil
}

var (
	sharedOnce    sync.Once
	sharedBackend compute.Backend
	sharedErr     error
)

// Shared returns one backend per process, created by [New] on first use.
// Tests and commands that build several executors share it.
func Shared() (compute.Backend, error) {
	sharedOnce.Do(func() { sharedBackend, sharedErr = New() })
	return sharedBackend, sharedErr
}

// MustShared is [Shared] that panics on error; for tests and notebooks.
func MustShared() compute.Backend {
	b, err := Shared()
	if err != nil {
		panic(err)
	}
	return b
}

// choose returns the configuration string and the reason it was chosen.
func choose() (config, reason string) {
	if v, ok := os.LookupEnv(EnvVar); ok && strings.TrimSpace(v) != "" {
		v = strings.TrimSpace(v)
		if v == "go" {
			return GoConfig, EnvVar + "=go, run with parallelism=-1"
		}
		return v, EnvVar + " is set"
	}
	if !xlaCompiledIn {
		return GoConfig, "this binary was built without XLA"
	}
	plugins := xlaPlugins()
	for _, pref := range []string{"cuda", "cpu"} {
		for _, p := range plugins {
			if p == pref || strings.HasPrefix(p, pref+"_v") {
				return "xla:" + p, "PJRT plugin " + p + " found"
			}
		}
	}
	if len(plugins) > 0 {
		return "xla:" + plugins[0], "PJRT plugin " + plugins[0] + " found"
	}
	return GoConfig, "no PJRT plugin installed; set " + EnvVar + " to choose"
}

// start creates the backend for config, keeping the Go backend's own
// start-up message off stdout (stdout may carry a command's data).
func start(config string) (b compute.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	if name, _, _ := strings.Cut(config, ":"); name == gobackend.BackendName {
		stdout := os.Stdout
		if devnull, derr := os.Open(os.DevNull); derr == nil {
			os.Stdout = devnull
			defer func() { os.Stdout = stdout; devnull.Close() }()
		}
	}
	return compute.NewWithConfig(config)
}

func describe(config string) string {
	name, _, _ := strings.Cut(config, ":")
	switch name {
	case gobackend.BackendName:
		return "pure-Go backend " + config
	case "xla", "stablehlo", "shlo", "hlo":
		return "XLA backend " + config
	}
	return config
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// CUDA reports whether a CUDA XLA backend can be asked for: the
// configuration to pass to compute.NewWithConfig, or the reason why not.
// GOMLX_BACKEND naming a CUDA plugin counts; otherwise an installed CUDA
// PJRT plugin does (install one with `go run ./cmd/xla-install --cuda`).
func CUDA() (config string, ok bool, reason string) {
	if v := strings.TrimSpace(os.Getenv(EnvVar)); v != "" && strings.Contains(strings.ToLower(v), "cuda") {
		return v, true, EnvVar + " names a CUDA plugin"
	}
	if !xlaCompiledIn {
		return "", false, "this binary was built without XLA (CGO_ENABLED=0 or -tags noxla)"
	}
	for _, p := range xlaPlugins() {
		if p == "cuda" || strings.HasPrefix(p, "cuda_v") {
			return "xla:" + p, true, "PJRT plugin " + p + " found"
		}
	}
	return "", false, "no CUDA PJRT plugin installed (go run ./cmd/xla-install --cuda) and " + EnvVar + " does not name one"
}
