// Package samplers builds, from a checkpoint's configuration and command-line
// settings, the model and solver that cmd/sample and cmd/eval sample with,
// and the condition (class labels, classifier-free guidance) of the samples.
// Both commands go through it, so a sampler means the same thing in each.
//
// Samplers by name:
//
//   - ddpm, ddim, dpm++2m, dpm++2s, edm: any checkpoint (a DDPM model on
//     its own steps, a score model on its SDE's levels), through
//     experiment.Config.SamplingModel;
//   - em, pc, ode, langevin: a score checkpoint, or a DDPM checkpoint of the
//     linear schedule with T = 1000 as a VP-SDE score
//     (score.DenoiserModel); langevin needs the VE SDE.
package samplers

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/score"
	"github.com/godiffusion/diffusion-models/schedules"
	"github.com/godiffusion/diffusion-models/text"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// Names lists the samplers: first those that sample any model, then the
// SDE and ODE samplers that need a model of an SDE.
var Names = []string{"ddpm", "ddim", "dpm++2m", "dpm++2s", "edm", "em", "pc", "ode", "langevin"}

// levelSamplers sample any model; the others need an SDE.
var levelSamplers = []string{"ddpm", "ddim", "dpm++2m", "dpm++2s", "edm"}

// Default step counts.
const (
	DefaultDDIMSteps  = 50
	DefaultDPM2MSteps = diffusion.DefaultFastSteps     // 20 levels, 20 model evaluations
	DefaultDPM2SSteps = diffusion.DefaultFastSteps / 2 // 10 levels: 19 model evaluations
	DefaultEDMSteps   = diffusion.DefaultFastSteps     // 20 levels, 39 model evaluations
	DefaultSDESteps   = 500                            // em and pc
	DefaultODESteps   = 100                            // ode with a fixed-step solver
	// DefaultContinuousDDPMSteps is ddpm's number of steps on a continuous
	// (score) model, which has no steps of its own (the VP SDE's
	// discretisation in DDPM has 1000).
	DefaultContinuousDDPMSteps = 1000
	// DefaultLevels, DefaultLangevinSteps: annealed Langevin's L and T.
	DefaultLevels        = 40
	DefaultLangevinSteps = 20
)

// Defaults of the settings whose zero values are settings of their own.
const (
	// DefaultSolver is ode's integration rule (Settings.Solver, whose zero
	// value is score.Euler).
	DefaultSolver = score.Heun
	// DefaultCorrector is pc's number of Langevin corrector steps per
	// predictor step (Settings.Corrector, whose zero value is predictor
	// only).
	DefaultCorrector = 1
)

// Flags lists, for each flag that only some samplers use, those samplers. A
// command refuses such a flag with any other sampler.
var Flags = map[string][]string{
	"sample-steps":   {"ddpm", "ddim", "dpm++2m", "dpm++2s", "edm", "em", "pc", "ode"},
	"spacing":        {"ddpm", "ddim", "dpm++2m", "dpm++2s"},
	"variance":       {"ddpm"},
	"clip":           {"ddpm", "ddim", "dpm++2m", "dpm++2s", "edm"},
	"eta":            {"ddim"},
	"rho":            {"edm"},
	"solver":         {"ode"},
	"rtol":           {"ode"},
	"atol":           {"ode"},
	"corrector":      {"pc"},
	"snr":            {"pc"},
	"levels":         {"langevin"},
	"langevin-steps": {"langevin"},
	"step-size":      {"langevin"},
}

// Settings are a sampler's command-line settings. Zero values mean the
// defaults, except for Solver and Corrector, whose zero values are settings
// of their own (score.Euler; predictor only): set them to [DefaultSolver]
// and [DefaultCorrector] for the defaults. Given says which flags were set
// on the command line (by flag name, without dashes): only those are checked
// against the sampler (see [Flags]).
type Settings struct {
	// Name is the sampler ("": [Default] for the checkpoint).
	Name string
	// Steps is --sample-steps (0: the sampler's default).
	Steps int
	// Spacing is --spacing ("": linspace for ddpm and ddim, lambda for dpm++).
	Spacing string
	// Eta is ddim's η ∈ [0, 1].
	Eta float64
	// Variance is ddpm's --variance ("": the checkpoint's).
	Variance string
	// Clip clips x̂₀ to [−1, 1] when Given["clip"]; otherwise the default is
	// on for images, off for 2-D data.
	Clip bool
	// Rho is edm's ρ (0: 7).
	Rho float64
	// Solver, RTol and ATol are ode's integration rule (zero: score.Euler;
	// the default is [DefaultSolver]) and rk45's tolerances (0:
	// score.DefaultRTol, DefaultATol).
	Solver     score.Solver
	RTol, ATol float64
	// Corrector and SNR are pc's corrector steps (0: predictor only; the
	// default is [DefaultCorrector]) and signal-to-noise ratio (0: 0.16 for
	// the VE SDE, 0.01 otherwise).
	Corrector int
	SNR       float64
	// Levels, LangevinSteps and StepSize are langevin's L, T and ε (0: the
	// defaults).
	Levels, LangevinSteps int
	StepSize              float64
	// Given holds the flags set on the command line.
	Given map[string]bool
}

// Sampler is a model and a solver ready for diffusion.Run.
type Sampler struct {
	// Name is the sampler's name.
	Name string
	// Model is the model to sample (without guidance: see [Labels.Apply]).
	Model diffusion.Model
	// Solver is the solver.
	Solver diffusion.Solver
	// Desc describes the sampler and its settings ("ddim 50 steps (linspace spacing), η 0").
	Desc string
	// ModelDesc describes the model ("DDPM model, T = 1000, linear schedule").
	ModelDesc string
}

// Default returns the default sampler of a checkpoint: ddpm for DDPM
// checkpoints, pc for score checkpoints.
func Default(cfg experiment.Config) string {
	if cfg.IsScore() {
		return "pc"
	}
	return "ddpm"
}

// CheckFlags refuses each flag of given (by name) that the sampler name does
// not use (see [Flags]).
func CheckFlags(name string, given map[string]bool) error {
	for _, fl := range slices.Sorted(maps.Keys(given)) {
		if users, ok := Flags[fl]; ok && given[fl] && !slices.Contains(users, name) {
			return fmt.Errorf("--%s applies to --sampler %s only, not %s", fl, strings.Join(users, ", "), name)
		}
	}
	return nil
}

// check refuses settings outside their range.
func (s Settings) check() error {
	switch {
	case s.Steps < 0:
		return fmt.Errorf("--sample-steps must be ≥ 0, got %d", s.Steps)
	case !(s.Eta >= 0 && s.Eta <= 1):
		return fmt.Errorf("--eta must be in [0, 1], got %g", s.Eta)
	case s.Given["rho"] && !(s.Rho > 0 && !math.IsInf(s.Rho, 0)):
		return fmt.Errorf("--rho must be a finite number > 0, got %g", s.Rho)
	case s.Corrector < 0:
		return fmt.Errorf("--corrector must be ≥ 0, got %d", s.Corrector)
	case s.Given["snr"] && !(s.SNR > 0 && !math.IsInf(s.SNR, 0)):
		return fmt.Errorf("--snr must be > 0, got %g", s.SNR)
	case s.Levels < 0 || (s.Given["levels"] && s.Levels < 1):
		return fmt.Errorf("--levels must be ≥ 1, got %d", s.Levels)
	case s.LangevinSteps < 0 || (s.Given["langevin-steps"] && s.LangevinSteps < 1):
		return fmt.Errorf("--langevin-steps must be ≥ 1, got %d", s.LangevinSteps)
	case s.StepSize < 0 || math.IsNaN(s.StepSize) || math.IsInf(s.StepSize, 0) || (s.Given["step-size"] && s.StepSize == 0):
		return fmt.Errorf("--step-size must be > 0, got %g", s.StepSize)
	case s.RTol < 0 || s.ATol < 0 || math.IsNaN(s.RTol) || math.IsNaN(s.ATol) ||
		(s.Given["rtol"] && s.RTol == 0) || (s.Given["atol"] && s.ATol == 0):
		return fmt.Errorf("--rtol and --atol must be > 0, got %g and %g", s.RTol, s.ATol)
	}
	return nil
}

// Build returns the sampler that s describes for the checkpoint at path
// with configuration cfg. Everything the solver would refuse is reported
// here, before anything is compiled: an unknown sampler, a flag it does not
// use, a sampler the checkpoint cannot use, settings out of range, a grid the
// model's noise levels cannot give.
func Build(cfg experiment.Config, path string, s Settings) (*Sampler, error) {
	name := s.Name
	if name == "" {
		name = Default(cfg)
	}
	if !slices.Contains(Names, name) {
		return nil, fmt.Errorf("unknown --sampler %q (want %s)", name, strings.Join(Names, ", "))
	}
	if err := CheckFlags(name, s.Given); err != nil {
		return nil, err
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	var (
		m         diffusion.Model
		modelDesc string
		err       error
	)
	if slices.Contains(levelSamplers, name) {
		if m, err = cfg.SamplingModel(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		modelDesc = DescribeModel(cfg)
	} else if m, modelDesc, err = sdeModel(cfg, path, name); err != nil {
		return nil, err
	}
	clip := cfg.ClipX0()
	if s.Given["clip"] {
		if s.Clip && cfg.IsLatent() {
			return nil, fmt.Errorf("--clip: %s is a latent model, and latents are not in [−1, 1]: clipping x̂₀ would distort them (the decoded images are clipped)", path)
		}
		clip = s.Clip
	}
	clipDesc := ""
	if clip {
		clipDesc = ", x̂₀ clipped"
	}
	discrete := m.Levels.Discrete() > 0
	out := &Sampler{Name: name, Model: m, ModelDesc: modelDesc}
	switch name {
	case "ddpm":
		spacing, err := discreteSpacing(s.Spacing, name)
		if err != nil {
			return nil, err
		}
		vt := cfg.SampleVariance()
		if s.Variance != "" {
			if vt, err = diffusion.ParseVarianceType(s.Variance); err != nil {
				return nil, fmt.Errorf("--variance: %w", err)
			}
		}
		if vt == diffusion.Learned && !m.LearnedVariance {
			return nil, fmt.Errorf("--variance learned: the model in %s does not learn its variance", path)
		}
		if s.Variance != "" && vt != diffusion.Learned && m.LearnedVariance {
			return nil, fmt.Errorf("--variance %s: the model in %s learns its variance, which ddpm uses", s.Variance, path)
		}
		if m.LearnedVariance {
			vt = diffusion.Learned
		}
		steps := s.Steps
		if steps == 0 && !discrete {
			steps = DefaultContinuousDDPMSteps
		}
		out.Solver = diffusion.DDPM{Steps: steps, Spacing: spacing, Variance: vt, ClipX0: clip}
		out.Desc = fmt.Sprintf("ddpm %s (%s spacing), %v variance%s", stepsDesc(steps, m), spacing, vt, clipDesc)
	case "ddim":
		spacing, err := discreteSpacing(s.Spacing, name)
		if err != nil {
			return nil, err
		}
		steps := s.Steps
		if steps == 0 {
			steps = DefaultDDIMSteps
			if T := m.Levels.Discrete(); T > 0 {
				steps = min(steps, T)
			}
		}
		out.Solver = diffusion.DDIM{Steps: steps, Spacing: spacing, Eta: s.Eta, ClipX0: clip}
		out.Desc = fmt.Sprintf("ddim %d steps (%s spacing), η %g%s", steps, spacing, s.Eta, clipDesc)
	case "dpm++2m", "dpm++2s":
		spacing := s.Spacing
		if spacing == "" {
			spacing = "lambda"
		}
		switch spacing {
		case "lambda", "karras", "linspace", "leading", "trailing", "ddim":
		default:
			return nil, fmt.Errorf("unknown --spacing %q for %s (want lambda, karras, linspace, leading, trailing or ddim)", spacing, name)
		}
		steps := s.Steps
		if name == "dpm++2m" {
			steps = orDefault(steps, DefaultDPM2MSteps)
			out.Solver = diffusion.DPMSolverPP2M{Steps: steps, Spacing: spacing, ClipX0: clip}
			out.Desc = fmt.Sprintf("dpm++2m %d steps (%s spacing)%s", steps, spacing, clipDesc)
		} else {
			steps = orDefault(steps, DefaultDPM2SSteps)
			out.Solver = diffusion.DPMSolverPP2S{Steps: steps, Spacing: spacing, ClipX0: clip}
			out.Desc = fmt.Sprintf("dpm++2s %d steps (%s spacing)%s", steps, spacing, clipDesc)
		}
	case "edm":
		steps := orDefault(s.Steps, DefaultEDMSteps)
		rho := s.Rho
		if rho == 0 {
			rho = 7
		}
		out.Solver = diffusion.EDM{Steps: steps, Rho: rho, ClipX0: clip}
		out.Desc = fmt.Sprintf("edm %d steps, ρ %g%s", steps, rho, clipDesc)
	case "em":
		steps := orDefault(s.Steps, DefaultSDESteps)
		out.Solver = score.EulerMaruyama{Steps: steps}
		out.Desc = fmt.Sprintf("em %d steps", steps)
	case "pc":
		steps := orDefault(s.Steps, DefaultSDESteps)
		snr := s.SNR
		if snr == 0 {
			snr = score.DefaultSNRVP
			if sde, ok := m.Levels.(score.SDE); ok && sde.Name() == "ve" {
				snr = score.DefaultSNRVE
			}
		}
		out.Solver = score.PredictorCorrector{Steps: steps, Corrector: s.Corrector, SNR: snr}
		out.Desc = fmt.Sprintf("pc %d steps, %d corrector, snr %g", steps, s.Corrector, snr)
	case "ode":
		if s.Solver == score.RK45 {
			if s.Given["sample-steps"] {
				return nil, errors.New("--sample-steps does not apply to --solver rk45 (adaptive: its steps follow --rtol and --atol)")
			}
			out.Solver = score.ODE{Solver: score.RK45, Tolerance: score.Tolerance{RTol: s.RTol, ATol: s.ATol}}
			out.Desc = "ode rk45 (adaptive)"
			break
		}
		if s.Given["rtol"] || s.Given["atol"] {
			return nil, fmt.Errorf("--rtol and --atol apply to --solver rk45 only, not %v", s.Solver)
		}
		steps := orDefault(s.Steps, DefaultODESteps)
		out.Solver = score.ODE{Steps: steps, Solver: s.Solver}
		out.Desc = fmt.Sprintf("ode %v %d steps", s.Solver, steps)
	case "langevin":
		sde := m.Levels.(score.SDE) // sdeModel checked
		if sde.Name() != "ve" {
			return nil, fmt.Errorf("--sampler langevin is annealed Langevin dynamics over the VE SDE's noise levels (NCSN) and needs a score model trained with --sde ve, not the %s model in %s: use pc, em or ode", sde.Name(), path)
		}
		levels, steps := orDefault(s.Levels, DefaultLevels), orDefault(s.LangevinSteps, DefaultLangevinSteps)
		size := s.StepSize
		if size == 0 {
			size = score.DefaultLangevinStepSize
		}
		out.Solver = score.AnnealedLangevin{Levels: levels, StepsPerLevel: steps, StepSize: size}
		out.Desc = fmt.Sprintf("langevin %d levels × %d steps, step size %g", levels, steps, size)
	}
	// A dry start on one example: the solver's own checks (grids, step
	// counts, spacings the levels cannot give) before anything is compiled.
	d := 1
	for _, v := range cfg.DataDims() {
		d *= v
	}
	if _, err := out.Solver.Start(&diffusion.Batch{Levels: m.Levels, LearnedVariance: m.LearnedVariance,
		X: make([]float64, d), N: 1, D: d, Noise: diffusion.NewNoise(0)}); err != nil {
		return nil, fmt.Errorf("--sampler %s: %w", name, err)
	}
	return out, nil
}

// stepsDesc describes a ddpm step count (0: every step of a discrete model).
func stepsDesc(steps int, m diffusion.Model) string {
	if steps == 0 {
		return fmt.Sprintf("%d steps", m.Levels.Discrete())
	}
	return fmt.Sprintf("%d steps", steps)
}

// discreteSpacing checks --spacing for ddpm and ddim ("" means linspace).
func discreteSpacing(spacing, name string) (string, error) {
	switch spacing {
	case "":
		return "linspace", nil
	case "linspace", "leading", "trailing", "ddim":
		return spacing, nil
	}
	return "", fmt.Errorf("unknown --spacing %q for %s (want linspace, leading, trailing or ddim; lambda and karras are for dpm++2m and dpm++2s)", spacing, name)
}

// Weights names the weights a command samples with: "exported EMA" for a
// sampling-only checkpoint whose weights are already the EMA, "EMA" when
// useEMA picks the checkpoint's EMA, "raw" otherwise.
func Weights(ck *diffusion.Checkpoint, useEMA bool) string {
	switch {
	case ck.WeightsAreEMA:
		return "exported EMA"
	case useEMA:
		return "EMA"
	}
	return "raw"
}

// DescribeModel describes the model of a configuration for the commands' output
// ("DDPM model, T = 1000, linear schedule, conditional on 10 classes").
func DescribeModel(cfg experiment.Config) string {
	var d string
	if cfg.IsBaseline() {
		return cfg.BaselineDesc()
	}
	if cfg.IsScore() {
		d = fmt.Sprintf("score model, %s SDE", cfg.SDE)
	} else {
		d = fmt.Sprintf("DDPM model, T = %d, %s schedule", cfg.Timesteps, cfg.Schedule)
	}
	if cfg.IsLatent() {
		l := cfg.DataDims()
		d = fmt.Sprintf("latent %s, on %d×%d×%d latents, scale %.4g", d, l[0], l[1], l[2], cfg.LatentScale)
	}
	if a := cfg.Ablations(); a != "" {
		d += ", UNet with " + a
	}
	if k := cfg.Classes(); k > 0 {
		d += fmt.Sprintf(", conditional on %d classes", k)
	}
	if cfg.IsText() {
		d += fmt.Sprintf(", conditional on prompts (the frozen text encoder of a mini-CLIP, %d-word vocabulary)", cfg.Tokenizer.VocabSize()-len(text.Specials))
	}
	return d
}

// sdeModel returns the model of a checkpoint for the SDE samplers, with a
// description. A score configuration builds its own; a DDPM configuration
// qualifies only when its β's are the VP SDE's discretisation with T = 1000
// (schedules' linear betas, β_i = β̄(i/999)/1000 = 1e-4 … 0.02): its
// denoiser then becomes the VP score s(x, t) = −ε̂(x, round(999 t))/√(1 − ᾱ)
// (score.DenoiserModel).
func sdeModel(cfg experiment.Config, path, name string) (diffusion.Model, string, error) {
	if cfg.IsScore() {
		m, err := cfg.SamplingModel()
		if err != nil {
			return m, "", fmt.Errorf("%s: %w", path, err)
		}
		return m, DescribeModel(cfg), nil
	}
	p, den, _, err := cfg.Build()
	if err != nil {
		return diffusion.Model{}, "", fmt.Errorf("%s: %w", path, err)
	}
	const wantT = 1000
	refuse := fmt.Errorf("%s holds a DDPM model (%s schedule, T = %d); --sampler %s needs a score checkpoint, or a DDPM one with the linear schedule and T = %d (the VP SDE's discretisation): use --sampler ddpm, ddim, dpm++2m, dpm++2s or edm",
		path, cfg.Schedule, p.T(), name, wantT)
	vp := schedules.DefaultVPSDE()
	if p.T() != wantT {
		return diffusion.Model{}, "", refuse
	}
	want, err := score.VPBetas(vp, wantT)
	if err != nil {
		return diffusion.Model{}, "", err
	}
	for i, beta := range p.Schedule.Beta {
		if math.Abs(beta-want[i]) > 1e-9*want[i] {
			return diffusion.Model{}, "", refuse
		}
	}
	if name == "langevin" {
		return diffusion.Model{}, "", fmt.Errorf("--sampler langevin is annealed Langevin dynamics over the VE SDE's noise levels (NCSN) and needs a score model trained with --sde ve, but %s holds a DDPM model (a VP-SDE score at best): use pc, em or ode", path)
	}
	m := score.DenoiserModel(p, den, score.VP(vp))
	desc := "DDPM ε-model as a VP-SDE score"
	if k := cfg.Classes(); k > 0 {
		m = m.WithClasses(k)
		desc += fmt.Sprintf(", conditional on %d classes", k)
	}
	if cfg.IsText() {
		m = m.WithText()
		desc += ", conditional on prompts"
	}
	return m, desc, nil
}

// orDefault returns k, or def when k is 0.
func orDefault(k, def int) int {
	if k == 0 {
		return def
	}
	return k
}
