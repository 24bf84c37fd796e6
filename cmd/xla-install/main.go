// Command xla-install installs the XLA PJRT plugins that let GoMLX run on
// XLA: the CPU plugin (from the gomlx/pjrt-cpu-binaries GitHub releases) and
// the CUDA plugin with its NVIDIA libraries (from the JAX packages on PyPI).
//
//	go run ./cmd/xla-install --cpu           # CPU plugin into ~/.local/lib/go-xla
//	go run ./cmd/xla-install --cuda          # CUDA 13 plugin and NVIDIA libraries, GPU or not (e.g. in docker build)
//
// It needs network access to github.com and pypi.org. The project's commands
// never download plugins themselves (see package backend): run this once on a
// machine that should use XLA, after which backend.New picks XLA up.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gomlx/go-xla/installer"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr, install); err != nil {
		fmt.Fprintln(os.Stderr, "xla-install:", err)
		os.Exit(1)
	}
}

// installFn installs one plugin ("cpu" or "cuda") into dir (a .../lib/go-xla folder).
type installFn func(plugin, dir string) error

func install(plugin, dir string) error {
	switch plugin {
	case "cpu":
		return installer.CPUAutoInstall(dir, true, installer.Normal)
	case "cuda":
		return installer.CudaInstall("cuda13", "latest", dir, true, installer.Normal)
	}
	return fmt.Errorf("unknown plugin %q", plugin)
}

func run(args []string, stdout, stderr io.Writer, do installFn) error {
	fs := flag.NewFlagSet("xla-install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cpu := fs.Bool("cpu", false, "install the XLA CPU plugin")
	cuda := fs.Bool("cuda", false, "install the XLA CUDA 13 plugin and the NVIDIA libraries it needs")
	dir := fs.String("path", "", "install folder (default: ~/.local/lib/go-xla, where GoMLX looks)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if !*cpu && !*cuda {
		return errors.New("nothing to do: pass --cpu, --cuda or both")
	}
	if *dir == "" {
		lib, err := installer.DefaultHomeLibPath()
		if err != nil {
			return err
		}
		*dir = filepath.Join(lib, "go-xla")
	}
	for _, p := range []struct {
		name string
		on   bool
	}{{"cpu", *cpu}, {"cuda", *cuda}} {
		if !p.on {
			continue
		}
		fmt.Fprintf(stdout, "installing the XLA %s plugin into %s\n", p.name, *dir)
		if err := do(p.name, *dir); err != nil {
			return fmt.Errorf("installing the %s plugin: %w", p.name, err)
		}
	}
	fmt.Fprintf(stdout, "done; `GOMLX_BACKEND` unset now selects XLA (see package backend)\n")
	return nil
}
