package nb

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMeanSD(t *testing.T) {
	for _, tc := range []struct {
		v        []float64
		mean, sd float64
	}{
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 5, math.Sqrt(32.0 / 7)}, // Σ(x−5)² = 32
		{[]float64{3}, 3, 0},
		{[]float64{1, 3}, 2, math.Sqrt2},
	} {
		m, s := MeanSD(tc.v)
		if math.Abs(m-tc.mean) > 1e-12 || math.Abs(s-tc.sd) > 1e-12 {
			t.Errorf("MeanSD(%v) = %g, %g; want %g, %g", tc.v, m, s, tc.mean, tc.sd)
		}
	}
	if got := PlusMinus("%.2f", []float64{1, 3}); got != "2.00 ± 1.41" {
		t.Errorf("PlusMinus = %q", got)
	}
	if got := PlusMinus("%.2f", []float64{1, math.NaN()}); got != "—" {
		t.Errorf("PlusMinus with NaN = %q, want —", got)
	}
}

// TestFamilyRunJSON: a GAN's NaN bound survives the cache as NaN, a
// number as itself, and every other field round-trips.
func TestFamilyRunJSON(t *testing.T) {
	for _, bound := range []float64{math.NaN(), 1.25} {
		r := FamilyRun{Family: "GAN", Seed: 2, Samples: [][2]float64{{1, 2}}, NLL: 4, MMD: 5e-4, Bound: bound}
		r.Coverage.Shares, r.Coverage.Covered, r.Coverage.OffMode = []float64{0.5, 0.5}, 2, 0.1
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back FamilyRun
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(bound) != math.IsNaN(back.Bound) || (!math.IsNaN(bound) && back.Bound != bound) ||
			back.Family != "GAN" || back.Seed != 2 || back.Samples[0] != r.Samples[0] || back.NLL != 4 ||
			back.MMD != r.MMD || !slices.Equal(back.Coverage.Shares, r.Coverage.Shares) ||
			back.Coverage.Covered != 2 || back.Coverage.OffMode != 0.1 {
			t.Errorf("round trip of %+v gave %+v (JSON %s)", r, back, b)
		}
	}
}

// TestTrainFamily trains a tiny VAE and GAN, then asks again: the second
// call loads the model and its figures from the cache, identical; the
// figures agree with the samples (NLL recomputed by hand from the density).
func TestTrainFamily(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, f := range []string{"VAE", "GAN"} {
		c := FamilyConfig(f, "gaussians8", 8, 1)
		first := TrainFamily(f, c, 3, 40)
		again := TrainFamily(f, c, 3, 40)
		if first.Trained.Loaded || !again.Trained.Loaded {
			t.Errorf("%s: loaded %v then %v", f, first.Trained.Loaded, again.Trained.Loaded)
		}
		if len(first.Samples) != 40 || !slices.Equal(first.Samples, again.Samples) || first.NLL != again.NLL || first.MMD != again.MMD {
			t.Errorf("%s: cached figures differ from the computed ones", f)
		}
		var nll float64
		for _, p := range first.Samples {
			nll -= gaussians8LogDensity(p)
		}
		if nll /= 40; math.Abs(nll-first.NLL) > 1e-9*math.Max(1, math.Abs(nll)) {
			t.Errorf("%s: NLL %g, by hand %g", f, first.NLL, nll)
		}
		if math.IsNaN(first.Bound) != (f == "GAN") {
			t.Errorf("%s: bound %g", f, first.Bound)
		}
		var shares float64
		for _, s := range first.Coverage.Shares {
			shares += s
		}
		if math.Abs(shares+first.Coverage.OffMode-1) > 1e-12 {
			t.Errorf("%s: shares and off-mode sum to %g", f, shares+first.Coverage.OffMode)
		}
	}
	if !strings.Contains(panics(func() { FamilyConfig("flow", "moons", 8, 0) }), "unknown family") {
		t.Errorf("unknown family accepted")
	}
}

// gaussians8LogDensity is log p(x) of gaussians8 (8 equal Gaussians of
// σ = 0.1 on the circle of radius 2, the first at angle 0), written out.
func gaussians8LogDensity(p [2]float64) float64 {
	var s float64
	for k := range 8 {
		a := 2 * math.Pi * float64(k) / 8
		dx, dy := p[0]-2*math.Cos(a), p[1]-2*math.Sin(a)
		s += math.Exp(-(dx*dx+dy*dy)/(2*0.01)) / (2 * math.Pi * 0.01) / 8
	}
	return math.Log(s)
}

func TestReadFamilyResults(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ReadFamilyResults(dir); err == nil {
		t.Errorf("an empty folder accepted")
	}
	write("vae-s2.json", `{"samples_fd": 40.5, "bits_per_dim": 1.25}`)
	write("vae-s2.train.log", "backend: …\ntrain: mnist, VAE …\ntrained 1000 steps in 5m31.5s (3.0 steps/s); checkpoint x\n")
	write("gan-s0.json", `{"samples_fd": 20}`)
	write("gan-s0.train.log", "no such line\n")
	if _, err := ReadFamilyResults(dir); err == nil || !strings.Contains(err.Error(), "trained N steps") {
		t.Errorf("a log without the training line: %v", err)
	}
	write("gan-s0.train.log", "trained 10 steps in 2.5s (4 steps/s)\n")
	write("gan-raw-s0.json", `{"samples_fd": 10}`)
	rs, err := ReadFamilyResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[2].Family != RawGAN || rs[2].Seed != 0 || rs[2].Figure("samples_fd") != 10 || rs[2].TrainSeconds != 2.5 || rs[0].Family != "VAE" || rs[0].Seed != 2 || rs[0].Steps != 1000 || rs[0].TrainSeconds != 331.5 ||
		rs[0].Figure("samples_fd") != 40.5 || !math.IsNaN(rs[0].Figure("kid")) || rs[1].Family != "GAN" || rs[1].TrainSeconds != 2.5 {
		t.Errorf("read %+v", rs)
	}
}

// TestParams counts a tiny trained VAE's parameters by hand: an MLP VAE
// with 2-D data, hidden widths h and a d-D latent has an encoder
// 2→h→h→2d and a decoder d→h→h→2 (each layer weights and biases) plus the
// decoder's 2 log-variances.
func TestParams(t *testing.T) {
	t.Chdir(t.TempDir())
	c := FamilyConfig("VAE", "moons", 8, 0)
	r := TrainFamily("VAE", c, 1, 10)
	v := c.VAE.WithDefaults()
	h, d := v.Hidden, v.LatentDim
	dense := func(in, out int) int { return in*out + out }
	want := dense(2, h[0]) + dense(h[0], h[1]) + dense(h[1], 2*d) + dense(d, h[0]) + dense(h[0], h[1]) + dense(h[1], 2) + 2
	if got := Params(r.Trained.Checkpoint); got != want {
		t.Errorf("Params = %d, want %d (hidden %v, latent %d)", got, want, h, d)
	}
}

// TestFamilyResultTable: means and spreads of hand-made reports, the bound
// over the seeds that have it.
func TestFamilyResultTable(t *testing.T) {
	r := func(f string, seed int64, fd, bpd float64) FamilyResult {
		return FamilyResult{Family: f, Seed: seed, Steps: 100, TrainSeconds: 6.4,
			Figures: map[string]any{"samples_fd": fd, "samples_kid": 1.0, "bits_per_dim": bpd, "sample_seconds": 2.0, "num_samples": 1000.0}}
	}
	var sb strings.Builder
	FamilyResultTable(&sb, []FamilyResult{r("diffusion", 1, 20, math.NaN()), r("diffusion", 0, 10, 2), r("GAN", 0, 5, math.NaN())})
	lines := strings.Split(strings.TrimSpace(sb.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", sb.String())
	}
	// FD 15 ± 7.07 (Σ(x−15)² = 50, /1, √); KID 1 ± 0; bits/dim of seed 0 only.
	for _, want := range []string{"15.0 ± 7.1", "10, 20", "1.00 ± 0.00", "2.000 (1 seed)"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("diffusion row %q lacks %q", lines[1], want)
		}
	}
	if !strings.HasPrefix(lines[2], "GAN ") || !strings.Contains(lines[2], "—") {
		t.Errorf("GAN row %q", lines[2])
	}
}

// TestWarmTime: the first run is not timed.
func TestWarmTime(t *testing.T) {
	calls := 0
	d := WarmTime(func() {
		calls++
		if calls == 1 {
			time.Sleep(50 * time.Millisecond)
		}
	})
	if calls != 2 || d >= 50*time.Millisecond {
		t.Errorf("%d calls, timed %v: the warm-up was timed", calls, d)
	}
}

// TestFamilyTable: rows in the order of the families' first runs, means and
// spreads of hand-made figures, "—" for a GAN's bound and a missing time.
func TestFamilyTable(t *testing.T) {
	run := func(f string, seed int64, bound, nll float64, covered int) FamilyRun {
		r := FamilyRun{Family: f, Seed: seed, Bound: bound, NLL: nll, MMD: 1e-3}
		r.Coverage.Covered, r.Coverage.OffMode = covered, 0.25
		return r
	}
	var sb strings.Builder
	FamilyTable(&sb, []FamilyRun{run("GAN", 0, math.NaN(), 3, 8), run("VAE", 0, 2, 9, 8), run("GAN", 1, math.NaN(), 5, 6)},
		map[string]float64{"VAE": 0.004})
	lines := strings.Split(strings.TrimSpace(sb.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "GAN ") || !strings.HasPrefix(lines[2], "VAE ") {
		t.Fatalf("table:\n%s", sb.String())
	}
	// GAN: NLL 4 ± √2, modes 7 ± √2, no bound, no time; VAE: bound 2 ± 0, 4.00 ms per step.
	for _, want := range []string{"4.00 ± 1.41", "7.0 ± 1.4", "0.250 ± 0.000", "1.00 ± 0.00"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("GAN row %q lacks %q", lines[1], want)
		}
	}
	if strings.Count(lines[1], "—") != 2 || !strings.Contains(lines[2], "2.000 ± 0.000") || !strings.HasSuffix(lines[2], "4.00") {
		t.Errorf("rows %q, %q", lines[1], lines[2])
	}
}
