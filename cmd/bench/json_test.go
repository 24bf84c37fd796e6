package main

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/internal/cmdtest"
)

// TestJSONRatios checks the --json object against ratios computed by hand
// from made-up figures: the UNet is the headline even when listed after
// the MLP, and a part without a peer has null ratios.
func TestJSONRatios(t *testing.T) {
	side := func(train, sample, rss float64) sideResult {
		return sideResult{params: 3, train: timing{Median: train, Min: train, Max: train, Runs: 5},
			sample: timing{Median: sample, Min: sample, Max: sample, Runs: 5}, peakRSSMiB: rss, otherCPU: 0.01}
	}
	parts := []partResult{
		{label: "relu", model: "mlp", batch: 256, samples: 2000, goSide: side(8, 12, 300)},
		{label: "unet", model: "unet", batch: 64, samples: 16, goSide: side(900, 100, 1500),
			peer: &peerResult{sideResult: side(300, 40, 1000), device: "cpu"}},
	}
	env := environment{backend: classifyBackend("go", "", ""), simd: true}
	var out bytes.Buffer
	if err := writeJSON(&out, env, parts); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Fatalf("want one line, got %d:\n%s", n, out.String())
	}
	obj := cmdtest.LastJSON(t, out.String())
	want := map[string]float64{"train_ratio": 3, "sample_ratio": 2.5, "memory_ratio": 1.5}
	for k, w := range want {
		if v, ok := obj[k].(float64); !ok || math.Abs(v-w) > 1e-12 {
			t.Errorf("%s = %v, want %g", k, obj[k], w)
		}
	}
	if obj["headline"] != "unet" {
		t.Errorf("headline %v, want unet", obj["headline"])
	}
	ps := obj["parts"].([]any)
	mlp := ps[0].(map[string]any)
	if mlp["train_ratio"] != nil || mlp["pytorch"] != nil {
		t.Errorf("MLP part without a peer: train_ratio %v, pytorch %v, want null", mlp["train_ratio"], mlp["pytorch"])
	}
	u := ps[1].(map[string]any)
	if g := u["go"].(map[string]any)["train"].(map[string]any)["median_ms"]; g != 900.0 {
		t.Errorf("UNet Go train median %v, want 900", g)
	}
	if p := u["pytorch"].(map[string]any)["peak_rss_mib"]; p != 1000.0 {
		t.Errorf("UNet PyTorch peak RSS %v, want 1000", p)
	}
}

// TestJSONLastLine runs the Go side with --json and checks that the last
// line of stdout is the object, after the table.
func TestJSONLastLine(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"--runs", "1", "--warmup", "0", "--no-peer", "--samples", "50", "--activation", "relu", "--json"}, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "| measurement |") {
		t.Errorf("no table before the JSON:\n%s", out.String())
	}
	obj := cmdtest.LastJSON(t, out.String())
	if obj["train_ratio"] != nil || obj["headline"] != "relu" {
		t.Errorf("without a peer: train_ratio %v (want null), headline %v (want relu)", obj["train_ratio"], obj["headline"])
	}
	g := obj["parts"].([]any)[0].(map[string]any)["go"].(map[string]any)
	if m := g["train"].(map[string]any)["median_ms"].(float64); !(m > 0) {
		t.Errorf("Go train median %v, want > 0", m)
	}
	if g["params"].(float64) != float64(defaultParams) {
		t.Errorf("params %v, want %d", g["params"], defaultParams)
	}
}
