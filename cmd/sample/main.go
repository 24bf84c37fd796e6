// Command sample draws samples from a checkpoint written by cmd/train.
//
//	go run ./cmd/sample --model-path out/gaussians8 --num-samples 2000 --sampler ddim --sample-steps 50 --out out/gaussians8/samples
//	go run ./cmd/sample --model-path out/mnist --num-samples 100 --out grid.png
//	go run ./cmd/sample --model-path out/g8-score --sampler ode --solver rk45 --out out/g8-score/ode
//
// The samplers depend on the checkpoint's objective. A DDPM checkpoint
// samples with ddpm (ancestral, the default) or ddim, over --sample-steps
// steps spread by --spacing (default: every step for ddpm, 50 for ddim). A
// score checkpoint (cmd/train --objective score) samples with
//
//   - pc (the default): predictor–corrector (Song et al. 2021), --sample-steps
//     reverse-diffusion predictor steps (default 500), each after --corrector
//     Langevin corrector steps (default 1) at signal-to-noise ratio --snr
//     (default 0.16 for the VE SDE, 0.01 for VP and sub-VP): 1000 model
//     evaluations by default;
//   - em: Euler–Maruyama on the reverse-time SDE, --sample-steps steps
//     (default 500);
//   - ode: the probability-flow ODE, deterministic given the starting noise,
//     with --solver heun (the default), euler or rk4 over --sample-steps
//     steps (default 100: 200 model evaluations with heun), or rk45, the
//     adaptive Dormand–Prince pair with tolerances --rtol and --atol
//     (default 1e-5), whose number of model evaluations is printed;
//   - langevin, for VE-SDE checkpoints only: annealed Langevin dynamics
//     (Song & Ermon 2019) over --levels noise levels (default 40),
//     --langevin-steps steps each (default 20), step size --step-size
//     (default 2e-5, NCSN's ε for σ_L = 0.01). The levels are σ(t) at
//     evenly spaced t from 1 to ε, NCSN's geometric σ's from 50 to 0.01.
//     (score.AnnealedLangevin would run on a VP model too, Langevin on each
//     perturbed marginal p_t, but on gaussians8 it gave samples 2.3 nats
//     from the true density against 0.7 for pc, so it is refused.)
//
// A DDPM checkpoint trained with the linear schedule and T = 1000 can also
// use em, pc and ode: its prediction (ε, or x₀ or v converted to
// ε) becomes the score of the VP SDE that this schedule discretises,
// s(x, t) = −ε̂(x, i)/√(1 − ᾱ_i), i = round(999 t) (score.DenoiserScore);
// other DDPM schedules are refused, as are ddpm and ddim for a score
// checkpoint. A flag that does not apply to the sampler (--eta without ddim,
// --solver without ode, --snr without pc, ...) is an error.
//
// For images it writes a PNG grid (10×10 for 100 samples). The DDPM
// samplers clip x̂₀ to [−1, 1] at every step unless --clip=false; the score
// samplers do not clip, and the grid clips the final pixels.
//
// For 2-D data it writes FILE.csv (header "x,y", one sample a line) and a
// scatter plot FILE.png, and prints quality figures: the mean negative
// log-likelihood of the samples under the true density (next to that of
// fresh data), MMD² and the sliced Wasserstein distance to fresh data, and,
// for gaussians8, the share of samples at each mode. Outputs are written
// atomically: on any error nothing is left half-written.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/score"
	"github.com/godiffusion/diffusion-models/schedules"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/metrics"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sample:", err)
		os.Exit(1)
	}
}

// Sampler names: those of the discrete DDPM process and those of the
// continuous-time score models.
var (
	ddpmSamplers  = []string{"ddpm", "ddim"}
	scoreSamplers = []string{"em", "pc", "ode", "langevin"}
)

// Default step counts of the score samplers.
const (
	defaultSDESteps = 500 // em and pc
	defaultODESteps = 100 // ode with a fixed-step solver
)

// samplerFlags lists, for each flag that only some samplers use, those samplers.
var samplerFlags = map[string][]string{
	"sample-steps":   {"ddpm", "ddim", "em", "pc", "ode"},
	"spacing":        {"ddpm", "ddim"},
	"variance":       {"ddpm"},
	"clip":           {"ddpm", "ddim"},
	"eta":            {"ddim"},
	"solver":         {"ode"},
	"rtol":           {"ode"},
	"atol":           {"ode"},
	"corrector":      {"pc"},
	"snr":            {"pc"},
	"levels":         {"langevin"},
	"langevin-steps": {"langevin"},
	"step-size":      {"langevin"},
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelPath := fs.String("model-path", "", "checkpoint file, or the folder holding model.ckpt (required)")
	n := fs.Int("num-samples", 2000, "number of samples")
	samplerName := fs.String("sampler", "", "DDPM checkpoints: ddpm (ancestral, the default) or ddim; score checkpoints: pc (the default), em, ode or langevin (VE SDE only)")
	steps := fs.Int("sample-steps", 0, "number of sampling steps (0: every step for ddpm, 50 for ddim, 500 for em and pc, 100 for ode)")
	spacing := fs.String("spacing", "linspace", "ddpm, ddim: how the kept steps are spread: linspace, leading, trailing (or ddim: improved DDPM's stride rule)")
	eta := fs.Float64("eta", 0, "ddim: η in [0, 1] (0: deterministic, 1: DDPM-like noise)")
	variance := fs.String("variance", "", "ddpm: sampling variance when not learned: small (β̃) or large (β) (default: the checkpoint's)")
	clip := fs.Bool("clip", false, "ddpm, ddim: clip the predicted x0 to [-1, 1] (default: on for images, off for 2-D data)")
	solverName := fs.String("solver", "heun", "ode: euler, heun, rk4 (fixed steps) or rk45 (adaptive)")
	rtol := fs.Float64("rtol", score.DefaultRTol, "ode with --solver rk45: relative tolerance")
	atol := fs.Float64("atol", score.DefaultATol, "ode with --solver rk45: absolute tolerance")
	corrector := fs.Int("corrector", 1, "pc: Langevin corrector steps per predictor step (0: predictor only)")
	snr := fs.Float64("snr", 0, fmt.Sprintf("pc: signal-to-noise ratio r of the corrector (0: %g for the VE SDE, %g for VP and sub-VP)", score.DefaultSNRVE, score.DefaultSNRVP))
	levels := fs.Int("levels", 40, "langevin: number of noise levels L")
	langevinSteps := fs.Int("langevin-steps", 20, "langevin: Langevin steps T at each level")
	stepSize := fs.Float64("step-size", score.DefaultLangevinStepSize, "langevin: step size ε (the step at level i is ε σ_i²/σ_L²)")
	noEMA := fs.Bool("no-ema", false, "sample with the raw weights instead of their EMA")
	seed := fs.Int64("seed", 0, "random seed")
	batch := fs.Int("batch-size", 0, "samples denoised at once (0: all)")
	out := fs.String("out", "", "output: for 2-D data OUT.csv and OUT.png, for images the grid OUT.png (required)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	switch {
	case *modelPath == "":
		return errors.New("--model-path is required")
	case *out == "":
		return errors.New("--out is required")
	case *n <= 0:
		return fmt.Errorf("--num-samples must be > 0, got %d", *n)
	case *steps < 0:
		return fmt.Errorf("--sample-steps must be ≥ 0, got %d", *steps)
	case !(*eta >= 0 && *eta <= 1):
		return fmt.Errorf("--eta must be in [0, 1], got %g", *eta)
	case *corrector < 0:
		return fmt.Errorf("--corrector must be ≥ 0, got %d", *corrector)
	case given["snr"] && !(*snr > 0 && !math.IsInf(*snr, 0)):
		return fmt.Errorf("--snr must be > 0, got %g", *snr)
	case *levels < 1:
		return fmt.Errorf("--levels must be ≥ 1, got %d", *levels)
	case *langevinSteps < 1:
		return fmt.Errorf("--langevin-steps must be ≥ 1, got %d", *langevinSteps)
	case !(*stepSize > 0 && !math.IsInf(*stepSize, 0)):
		return fmt.Errorf("--step-size must be > 0, got %g", *stepSize)
	case !(*rtol > 0 && *atol > 0):
		return fmt.Errorf("--rtol and --atol must be > 0, got %g and %g", *rtol, *atol)
	}
	switch *spacing {
	case "linspace", "leading", "trailing", "ddim":
	default:
		return fmt.Errorf("unknown --spacing %q (want linspace, leading, trailing or ddim)", *spacing)
	}
	if *samplerName != "" && !slices.Contains(ddpmSamplers, *samplerName) && !slices.Contains(scoreSamplers, *samplerName) {
		return fmt.Errorf("unknown --sampler %q (want ddpm or ddim for a DDPM checkpoint; pc, em, ode or langevin for a score checkpoint)", *samplerName)
	}
	solver, err := score.ParseSolver(*solverName)
	if err != nil {
		return fmt.Errorf("--solver: %w", err)
	}
	base := strings.TrimSuffix(strings.TrimSuffix(*out, ".csv"), ".png")

	path := *modelPath
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "model.ckpt")
	}
	ck, err := diffusion.ReadCheckpoint(path)
	if err != nil {
		return err
	}
	cfg, err := experiment.FromJSON(ck.Config)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	name := *samplerName
	if name == "" {
		name = "ddpm"
		if cfg.IsScore() {
			name = "pc"
		}
	}
	if cfg.IsScore() && slices.Contains(ddpmSamplers, name) {
		return fmt.Errorf("--sampler %s is for DDPM checkpoints, but %s holds a score model (%s SDE): use pc, em, ode or langevin", name, path, cfg.SDE)
	}
	for _, fl := range slices.Sorted(maps.Keys(given)) {
		if users, ok := samplerFlags[fl]; ok && !slices.Contains(users, name) {
			return fmt.Errorf("--%s applies to --sampler %s only, not %s", fl, strings.Join(users, ", "), name)
		}
	}
	useEMA := !*noEMA && diffusion.HasEMA(ck)
	store, err := diffusion.SamplingStore(ck, useEMA)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	weights := "EMA"
	switch {
	case ck.WeightsAreEMA:
		weights = "exported EMA"
	case !useEMA:
		weights = "raw"
	}
	var progressW io.Writer = stderr
	if *quiet {
		progressW = nil
	}

	if slices.Contains(scoreSamplers, name) {
		sde, fn, model, err := scoreModel(cfg, path)
		if err != nil {
			return err
		}
		o := scoreOptions{
			name: name, steps: *steps, solver: solver, rtol: *rtol, atol: *atol, corrector: *corrector, snr: *snr,
			levels: *levels, langevinSteps: *langevinSteps, stepSize: *stepSize, stepsGiven: given["sample-steps"],
			tolGiven: given["rtol"] || given["atol"],
		}
		s, desc, nfe, err := o.sampler(sde)
		if err != nil {
			return err
		}
		backend.Log = stderr
		b, err := backend.New()
		if err != nil {
			return err
		}
		start := time.Now()
		opts := score.SampleOptions{Seed: *seed, BatchSize: *batch, Progress: progressW}
		var x *tensors.Tensor
		if s == nil { // ode with rk45
			x, nfe, err = score.SampleAdaptive(b, store, fn, sde, *n, cfg.DataDims(), opts, score.Tolerance{RTol: *rtol, ATol: *atol})
		} else {
			x, err = score.Sample(b, store, fn, s, *n, cfg.DataDims(), opts)
		}
		if err != nil {
			return err
		}
		perBatch := ""
		if *batch > 0 && *batch < *n {
			perBatch = " per batch"
			if s == nil {
				perBatch = " over all batches"
			}
		}
		fmt.Fprintf(stdout, "%d samples from %s (step %d, %s weights; %s) with %s: %d model evaluations%s, in %s\n",
			*n, path, ck.Step, weights, model, desc, nfe, perBatch, time.Since(start).Round(time.Millisecond))
		if cfg.IsImage() {
			return writeImages(stdout, base, cfg, x)
		}
		return write2D(stdout, base, cfg, x, desc)
	}

	p, den, _, err := cfg.Build()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	vt := cfg.SampleVariance()
	if *variance != "" {
		if vt, err = diffusion.ParseVarianceType(*variance); err != nil {
			return err
		}
		if vt == diffusion.Learned && !den.LearnedVariance {
			return fmt.Errorf("--variance learned: the model in %s does not learn its variance", path)
		}
	}
	clipX0 := cfg.ClipX0()
	if given["clip"] {
		clipX0 = *clip
	}

	var sampler diffusion.Sampler
	switch name {
	case "ddpm":
		sp := p
		if *steps > 0 && *steps != p.T() {
			if sp, err = p.RespaceSpec(spec(*spacing, *steps)); err != nil {
				return err
			}
		}
		sampler = diffusion.DDPM{P: sp, Variance: vt, ClipX0: clipX0}
	case "ddim":
		k := *steps
		if k == 0 {
			k = min(50, p.T())
		}
		sp, err := p.RespaceSpec(spec(*spacing, k))
		if err != nil {
			return err
		}
		sampler = diffusion.DDIM{P: sp, Eta: *eta, ClipX0: clipX0}
	}

	backend.Log = stderr
	b, err := backend.New()
	if err != nil {
		return err
	}
	start := time.Now()
	x, err := diffusion.Sample(b, store, den, sampler, *n, cfg.DataDims(), diffusion.SampleOptions{
		Seed: *seed, BatchSize: *batch, Progress: progressW,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d samples from %s (step %d, %s weights) with %s, %d steps, in %s\n",
		*n, path, ck.Step, weights, name, len(sampler.Steps()), time.Since(start).Round(time.Millisecond))
	if cfg.IsImage() {
		return writeImages(stdout, base, cfg, x)
	}
	return write2D(stdout, base, cfg, x, fmt.Sprintf("%s %d steps", name, len(sampler.Steps())))
}

// scoreModel returns the SDE and the score model of a checkpoint's
// configuration, and a short description of them. A score configuration
// builds its own; a DDPM configuration qualifies only when its β's are the
// VP SDE's discretisation with T = 1000 (schedules' linear betas,
// β_i = β̄(i/999)/1000 = 1e-4 … 0.02): its denoiser then becomes the VP
// score s(x, t) = −ε̂(x, round(999 t))/√(1 − ᾱ) (score.DenoiserScore).
func scoreModel(cfg experiment.Config, path string) (score.SDE, score.ModelFn, string, error) {
	if cfg.IsScore() {
		sde, fn, _, err := cfg.BuildScore()
		if err != nil {
			return nil, nil, "", fmt.Errorf("%s: %w", path, err)
		}
		return sde, fn, fmt.Sprintf("score model, %s SDE", sde.Name()), nil
	}
	p, den, _, err := cfg.Build()
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", path, err)
	}
	const wantT = 1000
	refuse := fmt.Errorf("%s holds a DDPM model (%s schedule, T = %d); the score samplers (pc, em, ode) need a score checkpoint, or a DDPM one with the linear schedule and T = %d (the VP SDE's discretisation): use --sampler ddpm or ddim",
		path, cfg.Schedule, p.T(), wantT)
	vp := schedules.DefaultVPSDE()
	if p.T() != wantT {
		return nil, nil, "", refuse
	}
	want, err := score.VPBetas(vp, wantT)
	if err != nil {
		return nil, nil, "", err
	}
	for i, beta := range p.Schedule.Beta {
		if math.Abs(beta-want[i]) > 1e-9*want[i] {
			return nil, nil, "", refuse
		}
	}
	return score.VP(vp), score.DenoiserScore(p, den), "DDPM ε-model as a VP-SDE score", nil
}

// scoreOptions are the settings of the score samplers.
type scoreOptions struct {
	name                  string
	steps                 int
	stepsGiven, tolGiven  bool
	solver                score.Solver
	rtol, atol            float64
	corrector             int
	snr                   float64
	levels, langevinSteps int
	stepSize              float64
}

// sampler returns the score sampler o describes (nil for ode with rk45,
// which runs score.SampleAdaptive), a description for titles and logs and
// its number of model evaluations per sample batch (0 for rk45, which
// reports its own). Settings the library would refuse are reported here,
// before anything is compiled.
func (o scoreOptions) sampler(sde score.SDE) (score.Sampler, string, int, error) {
	var s score.Sampler
	var desc string
	var nfe int
	k := o.steps
	switch o.name {
	case "em":
		k = orDefault(k, defaultSDESteps)
		s, desc, nfe = score.EulerMaruyama{Process: sde, Steps: k}, fmt.Sprintf("em %d steps", k), k
	case "pc":
		k = orDefault(k, defaultSDESteps)
		snr := o.snr
		if snr == 0 {
			snr = score.DefaultSNRVP
			if sde.Name() == "ve" {
				snr = score.DefaultSNRVE
			}
		}
		s = score.PredictorCorrector{Process: sde, Steps: k, Corrector: o.corrector, SNR: snr}
		desc, nfe = fmt.Sprintf("pc %d steps, %d corrector, snr %g", k, o.corrector, snr), k*(1+o.corrector)
	case "ode":
		if o.solver == score.RK45 {
			if o.stepsGiven {
				return nil, "", 0, errors.New("--sample-steps does not apply to --solver rk45 (adaptive: its steps follow --rtol and --atol)")
			}
			return nil, "ode rk45 (adaptive)", 0, nil
		}
		if o.tolGiven {
			return nil, "", 0, fmt.Errorf("--rtol and --atol apply to --solver rk45 only, not %v", o.solver)
		}
		k = orDefault(k, defaultODESteps)
		evals := map[score.Solver]int{score.Euler: 1, score.Heun: 2, score.RK4: 4}[o.solver]
		s, desc, nfe = score.ODE{Process: sde, Steps: k, Solver: o.solver}, fmt.Sprintf("ode %v %d steps", o.solver, k), k*evals
	case "langevin":
		if sde.Name() != "ve" {
			return nil, "", 0, fmt.Errorf("--sampler langevin is annealed Langevin dynamics over the VE SDE's noise levels (NCSN) and needs a score model trained with --sde ve, not a %s model: use pc, em or ode", sde.Name())
		}
		s = score.AnnealedLangevin{Process: sde, Levels: o.levels, StepsPerLevel: o.langevinSteps, StepSize: o.stepSize}
		desc, nfe = fmt.Sprintf("langevin %d levels × %d steps, step size %g", o.levels, o.langevinSteps, o.stepSize), o.levels*o.langevinSteps
	}
	if _, err := s.Times(); err != nil {
		return nil, "", 0, err
	}
	return s, desc, nfe, nil
}

// orDefault returns k, or def when k is 0.
func orDefault(k, def int) int {
	if k == 0 {
		return def
	}
	return k
}

// writeImages writes the samples as one PNG grid, ⌈√n⌉ images a row.
func writeImages(stdout io.Writer, base string, cfg experiment.Config, x *tensors.Tensor) error {
	dims := cfg.DataDims()
	h, w, c := dims[0], dims[1], dims[2]
	flat := tensors.MustCopyFlatData[float32](x)
	size := h * w * c
	n := len(flat) / size
	imgs := make([][]float32, n)
	for i := range imgs {
		imgs[i] = flat[i*size : (i+1)*size]
	}
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	img, err := plots.ImageGrid(imgs, h, w, c, cols, 2)
	if err != nil {
		return err
	}
	png, err := plots.EncodePNG(plots.Upscale(img, 2))
	if err != nil {
		return err
	}
	if err := plots.WriteFileAtomic(base+".png", png); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.png (%d images, %d a row)\n", base, n, cols)
	return nil
}

// spec turns --spacing and a step count into a schedules.SpacedTimesteps spec.
func spec(spacing string, k int) string {
	if spacing == "ddim" {
		return fmt.Sprintf("ddim%d", k)
	}
	return fmt.Sprintf("%s:%d", spacing, k)
}

// write2D writes the CSV and the scatter plot (its title names the sampler,
// as described by label), then prints quality figures.
func write2D(stdout io.Writer, base string, cfg experiment.Config, x *tensors.Tensor, label string) error {
	pts, err := toy2d.FromFlat32(tensors.MustCopyFlatData[float32](x))
	if err != nil {
		return err
	}
	var csv bytes.Buffer
	csv.WriteString("x,y\n")
	for _, q := range pts {
		fmt.Fprintf(&csv, "%g,%g\n", q[0], q[1])
	}
	ds, err := toy2d.ByName(cfg.Dataset)
	if err != nil {
		return err
	}
	fresh := ds.Sample(rand.New(rand.NewPCG(12345, 67890)), len(pts))
	xs, ys := split(pts)
	fx, fy := split(fresh)
	lim := 3.0
	png, err := plots.ScatterPNG([]plots.Series{{Name: "data", X: fx, Y: fy}, {Name: "samples", X: xs, Y: ys}}, plots.Options{
		Title: fmt.Sprintf("%s: %d samples, %s", cfg.Dataset, len(pts), label),
		Equal: true, XMin: &[]float64{-lim}[0], XMax: &lim, YMin: &[]float64{-lim}[0], YMax: &lim,
	})
	if err != nil {
		return err
	}
	// Both files are complete in memory; write them atomically.
	if err := plots.WriteFileAtomic(base+".csv", csv.Bytes()); err != nil {
		return err
	}
	if err := plots.WriteFileAtomic(base+".png", png); err != nil {
		os.Remove(base + ".csv")
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.csv and %s.png\n", base, base)

	nll := toy2d.MeanNLL(ds, pts)
	nllData := toy2d.MeanNLL(ds, fresh)
	fmt.Fprintf(stdout, "true-density NLL: samples %.3f nats, fresh data %.3f nats\n", nll, nllData)
	a, bpts := metrics.Points2D(pts), metrics.Points2D(fresh)
	if m, err := metrics.MMD2RBF(a, bpts, metrics.MedianBandwidth(a, bpts)); err == nil {
		fmt.Fprintf(stdout, "MMD² to fresh data (RBF, median bandwidth): %.5f\n", m)
	}
	if sw, err := metrics.SlicedWasserstein(a, bpts, 256, rand.New(rand.NewPCG(1, 2))); err == nil {
		fmt.Fprintf(stdout, "sliced Wasserstein-2 to fresh data: %.4f\n", sw)
	}
	if g, ok := ds.(toy2d.Gaussians8); ok {
		counts, outliers := g.ModeCounts(pts, 0.5)
		var sb strings.Builder
		for i, c := range counts {
			if i > 0 {
				sb.WriteString(" ")
			}
			fmt.Fprintf(&sb, "%.3f", float64(c)/float64(len(pts)))
		}
		fmt.Fprintf(stdout, "mode shares (within 0.5 of a centre): %s; off-mode %.3f\n", sb.String(), float64(outliers)/float64(len(pts)))
	}
	return nil
}

func split(pts []toy2d.Point) (xs, ys []float64) {
	xs = make([]float64, len(pts))
	ys = make([]float64, len(pts))
	for i, q := range pts {
		xs[i], ys[i] = q[0], q[1]
	}
	return xs, ys
}
