package backend

import (
	"bytes"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		env      string
		wantName string // compute.Backend.String()
		wantLog  string // substring of the log line
	}{
		{"bare go gets parallelism=-1", "go", "go", "go:parallelism=-1"},
		{"explicit go config", "go:parallelism=-1", "go", "GOMLX_BACKEND is set"},
		{"broken XLA plugin falls back", "xla:/nonexistent/pjrt_c_api_cuda_plugin.so", "go", "falling back to the pure-Go backend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvVar, tt.env)
			var log bytes.Buffer
			old := Log
			Log = &log
			defer func() { Log = old }()
			b, err := New()
			if err != nil {
				t.Fatalf("New with %s=%q: %v", EnvVar, tt.env, err)
			}
			defer b.Finalize()
			if got := b.String(); got != tt.wantName {
				t.Errorf("backend = %q, want %q", got, tt.wantName)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log %q does not contain %q", log.String(), tt.wantLog)
			}
			if n := strings.Count(log.String(), "\n"); n != 1 {
				t.Errorf("log has %d lines, want exactly 1: %q", n, log.String())
			}
		})
	}
}

func TestNewUnknownBackendFallsBack(t *testing.T) {
	t.Setenv(EnvVar, "nosuchbackend")
	var log bytes.Buffer
	old := Log
	Log = &log
	defer func() { Log = old }()
	b, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer b.Finalize()
	if b.String() != "go" || !strings.Contains(log.String(), "nosuchbackend") {
		t.Errorf("backend %q, log %q: want the Go fallback and the bad name in the log", b.String(), log.String())
	}
}

func TestCUDAReasons(t *testing.T) {
	t.Setenv(EnvVar, "xla:/opt/plugins/pjrt_c_api_cuda_plugin.so")
	if cfg, ok, _ := CUDA(); !ok || cfg != "xla:/opt/plugins/pjrt_c_api_cuda_plugin.so" {
		t.Errorf("GOMLX_BACKEND naming a CUDA plugin: got %q, %v", cfg, ok)
	}
	t.Setenv(EnvVar, "go")
	if _, ok, why := CUDA(); ok && why == "" {
		t.Errorf("a found CUDA plugin must say which")
	} else if !ok && why == "" {
		t.Errorf("no CUDA backend, and no reason given")
	}
}
