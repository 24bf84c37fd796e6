package nb

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/metrics"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
	"github.com/godiffusion/diffusion-models/vae"
)

// Families names the three families of generative models that notebook 10
// compares, in the order its tables list them.
var Families = []string{"diffusion", "VAE", "GAN"}

// FamilyConfig returns the configuration of family ("diffusion", "VAE" or
// "GAN") on a 2-D dataset: the project's defaults for it
// (experiment.Default2D, DefaultVAE, DefaultGAN) with the batch size of the
// shared budget and the seed.
func FamilyConfig(family, dataset string, batch int, seed int64) experiment.Config {
	var c experiment.Config
	switch family {
	case "diffusion":
		c = experiment.Default2D(dataset)
	case "VAE":
		c = experiment.DefaultVAE(dataset)
	case "GAN":
		c = experiment.DefaultGAN(dataset)
	default:
		panic(fmt.Sprintf("nb.FamilyConfig: unknown family %q (want one of %v)", family, Families))
	}
	c.BatchSize, c.Seed = batch, seed
	return c
}

// FamilyRun is one model of a family trained on a 2-D dataset, with the
// figures of its samples and, where it has one, its likelihood bound.
type FamilyRun struct {
	// Family is "diffusion", "VAE" or "GAN".
	Family string
	// Seed is the training seed (the samples use it too).
	Seed int64
	// Trained is the model (loaded from [CacheDir] or trained now).
	Trained *experiment.Trained `json:"-"`
	// Samples are the model's samples ([DrawFamily]).
	Samples []toy2d.Point
	// NLL is the mean negative log-likelihood of Samples under the data's
	// true density, in nats (lower: samples where the data is dense).
	NLL float64
	// MMD is MMD² (RBF kernel, median bandwidth) between Samples and as many
	// fresh data points.
	MMD float64
	// Coverage is how Samples spread over the dataset's modes.
	Coverage toy2d.Coverage
	// Bound is an upper bound on the model's −log p(x) of 200 fresh points,
	// in nats per point: the diffusion model's variational bound, the VAE's
	// −ELBO; NaN for a GAN, which has no likelihood.
	Bound float64
}

// The shared budget of notebook 10's 2-D runs: every model, whatever its
// family, takes the same number of optimisation steps (FamilySteps on
// gaussians8; moons, an easier set, gets half) of FamilyBatch examples, and
// FamilySamples samples are drawn from each.
const (
	FamilySteps   = 2000
	FamilyBatch   = 128
	FamilySamples = 1000
)

// FamilyStepsOf returns the training steps of notebook 10's runs on a 2-D
// dataset: FamilySteps for gaussians8, half of it for the others.
func FamilyStepsOf(dataset string) int64 {
	if dataset == "gaussians8" {
		return FamilySteps
	}
	return FamilySteps / 2
}

// NoR1 labels the GAN trained without its R1 penalty (γ = 0), the ablation
// of [CompareFamilies].
const NoR1 = "GAN, no R1"

// CompareFamilies returns the runs of notebook 10 on a 2-D dataset, seed
// after seed (0 to seeds−1): each family of [Families] with [FamilyConfig],
// and with noR1 also the GAN without its R1 penalty, each trained with the
// shared budget ([FamilyStepsOf] steps of FamilyBatch; cached in
// [CacheDir]) and sampled FamilySamples times; see [TrainFamily].
func CompareFamilies(dataset string, seeds int, noR1 bool) []FamilyRun {
	var runs []FamilyRun
	steps := FamilyStepsOf(dataset)
	for seed := range int64(seeds) {
		for _, f := range Families {
			runs = append(runs, TrainFamily(f, FamilyConfig(f, dataset, FamilyBatch, seed), steps, FamilySamples))
		}
		if noR1 {
			c := FamilyConfig("GAN", dataset, FamilyBatch, seed)
			c.GAN.R1Gamma = 0
			runs = append(runs, TrainFamily(NoR1, c, steps, FamilySamples))
		}
	}
	return runs
}

// Params counts the trained parameters of a checkpoint (the variables under
// diffusion.ModelScope; a GAN's are both players', a VAE's the encoder's and
// the decoder's).
func Params(ck *diffusion.Checkpoint) int {
	n := 0
	for path, v := range ck.Variables {
		if strings.HasPrefix(path, "/"+diffusion.ModelScope+"/") {
			n += v.Shape().Size()
		}
	}
	return n
}

// FamilySolver is the sampler of the diffusion models of [TrainFamily]: the
// ancestral DDPM sampler respaced to 100 of the T = 1000 steps (notebook 3
// finds 100 steps as good as 1,000 on the 2-D sets; notebook 10's section 6
// trades steps for speed).
var FamilySolver diffusion.Solver = diffusion.DDPM{Steps: 100}

// boundPoints is the number of fresh points whose likelihood bound
// [TrainFamily] reports.
const boundPoints = 200

// freshStream is the PCG stream of the fresh points that [TrainFamily]
// compares samples with and bounds the likelihood on.
const freshStream = 1010

// TrainFamily returns the model of configuration c (a 2-D dataset) trained
// for steps steps (cached in [CacheDir]), labelled family in tables, with n
// samples drawn from c.Seed and their figures. It prints one line: the run,
// and whether it was loaded or trained now.
func TrainFamily(family string, c experiment.Config, steps int64, n int) FamilyRun {
	var log strings.Builder
	t := Must(experiment.LoadOrTrain(Backend(), c, steps, CacheDir, &log, nil))
	how := "trained now"
	if t.Loaded {
		how = "loaded from the cache"
	}
	fmt.Printf("%-12s seed %d on %s: %s (%s)\n", family, c.Seed, c.Dataset, how, filepath.Base(t.Path))
	r := FamilyRun{Family: family, Seed: c.Seed, Trained: t}
	// The figures of a cached model are cached beside it: later cells of a
	// notebook ask for the same runs again and get them at once.
	// Their name holds what they depend on besides the model.
	what := sha256.Sum256(fmt.Appendf(nil, "n=%d bound=%d solver=%T%+v", n, boundPoints, FamilySolver, FamilySolver))
	figures := strings.TrimSuffix(t.Path, ".ckpt") + "-figures-" + hex.EncodeToString(what[:4]) + ".json"
	if b, err := os.ReadFile(figures); err == nil && t.Loaded && json.Unmarshal(b, &r) == nil && len(r.Samples) == n {
		r.Family, r.Trained = family, t
		return r
	}
	defer func() {
		b := Must(json.Marshal(r))
		Must(0, os.WriteFile(figures, b, 0o644))
	}()
	r.Samples = DrawFamily(t, n, c.Seed)
	ds := Must(toy2d.ByName(c.Dataset))
	r.NLL = toy2d.MeanNLL(ds, r.Samples)
	fresh := ds.Sample(rand.New(rand.NewPCG(uint64(c.Seed), freshStream)), max(n, boundPoints))
	a, f := metrics.Points2D(r.Samples), metrics.Points2D(fresh[:n])
	r.MMD = Must(metrics.MMD2RBF(a, f, metrics.MedianBandwidth(a, f)))
	if l, ok := ds.(toy2d.Labeled); ok {
		r.Coverage = toy2d.ModeCoverage(l, r.Samples)
	}
	r.Bound = familyBound(t, fresh[:boundPoints], c.Seed)
	return r
}

// DrawFamily draws n points from seed from a trained 2-D model of any
// family: the diffusion model's with [FamilySolver], the VAE's decoder
// means m(z), the GAN's G(z).
func DrawFamily(t *experiment.Trained, n int, seed int64) []toy2d.Point {
	if t.Config.IsBaseline() {
		return Must(toy2d.FromFlat32(Must(t.Generate(Backend(), n, experiment.GenerateOptions{Seed: seed}))))
	}
	return Sample2D(t, FamilySolver, n, seed)
}

// familyBound is the bound on −log p(x) in nats per point of pts: the
// diffusion model's variational bound, the VAE's −ELBO, NaN for a GAN.
func familyBound(t *experiment.Trained, pts []toy2d.Point, seed int64) float64 {
	x := toy2d.Flatten32(pts)
	switch {
	case t.Config.IsVAE():
		store := Must(diffusion.SamplingStore(t.Checkpoint, true))
		v := Must(t.Config.OpenVAE(Backend(), store))
		res := Must(v.ELBO(x, len(pts), vae.ELBOOptions{Seed: uint64(seed)}))
		return res.Mean
	case t.Config.IsGAN():
		return math.NaN()
	}
	m, store := Must2(t.Model())
	x0 := tensors.FromFlatDataAndDimensions(x, len(pts), 2)
	res := Must(diffusion.VLB(Backend(), store, m, x0, diffusion.VLBOptions{
		Seed: seed, Variance: t.Config.SampleVariance(), Decoder: t.Config.Decoder()}))
	return res.Total * 2 * math.Ln2 // bits/dim → nats per 2-D point
}

// WarmTime runs f twice and returns the wall time of the second run: the
// first compiles the graphs f builds (seconds on the pure-Go backend, which
// would swamp the microseconds of a VAE's or GAN's one pass).
func WarmTime(f func()) time.Duration {
	f()
	start := time.Now()
	f()
	return time.Since(start)
}

// StepSeconds measures the wall time of one training step of configuration
// c: it builds a fresh trainer, takes one step (which compiles the graph),
// then times k more and returns their mean. It trains nothing that is kept.
func StepSeconds(c experiment.Config, k int) float64 {
	b := Backend()
	data := Must(c.TrainingData(b, nil))
	tr := Must(c.NewTrainer(b))
	Must(0, tr.Run(data, diffusion.RunOptions{Steps: 1, BatchSize: c.BatchSize}))
	start := time.Now()
	Must(0, tr.Run(data, diffusion.RunOptions{Steps: int64(1 + k), BatchSize: c.BatchSize}))
	return time.Since(start).Seconds() / float64(k)
}

// MeanSD is the mean of v and its sample standard deviation (n−1 in the
// denominator; 0 for fewer than two values). NaNs (a GAN's bound) give NaN.
func MeanSD(v []float64) (mean, sd float64) {
	mean = Mean(v)
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}

// PlusMinus formats mean ± sd of v with the verb format (such as "%.3f"),
// or "—" when v holds NaNs (a figure the model does not have).
func PlusMinus(format string, v []float64) string {
	m, s := MeanSD(v)
	if math.IsNaN(m) {
		return "—"
	}
	return fmt.Sprintf(format+" ± "+format, m, s)
}

// FamilyTable writes, for each family (in the order of their first run), the
// mean ± standard deviation over its runs (one per seed) of the figures of
// [FamilyRun], one row per family, and the training time per step given in
// stepSeconds (by family; nil: none). Modes are counted for gaussians8 only.
func FamilyTable(w io.Writer, runs []FamilyRun, stepSeconds map[string]float64) {
	var families []string
	for _, r := range runs {
		if !slices.Contains(families, r.Family) {
			families = append(families, r.Family)
		}
	}
	fmt.Fprintf(w, "%-12s  %-15s  %-11s  %-15s  %-15s  %-15s  %s\n",
		"", "bound (nats)", "modes", "off-mode", "samples' NLL", "MMD² ×1000", "train ms/step")
	for _, f := range families {
		var bound, covered, off, nll, mmd []float64
		for _, r := range runs {
			if r.Family != f {
				continue
			}
			bound = append(bound, r.Bound)
			covered = append(covered, float64(r.Coverage.Covered))
			off = append(off, r.Coverage.OffMode)
			nll = append(nll, r.NLL)
			mmd = append(mmd, 1000*r.MMD)
		}
		if len(bound) == 0 {
			continue
		}
		step := "—"
		if s, ok := stepSeconds[f]; ok {
			step = fmt.Sprintf("%.2f", 1000*s)
		}
		fmt.Fprintf(w, "%-12s  %-15s  %-11s  %-15s  %-15s  %-15s  %s\n", f,
			PlusMinus("%.3f", bound), PlusMinus("%.1f", covered), PlusMinus("%.3f", off), PlusMinus("%.2f", nll),
			PlusMinus("%.2f", mmd), step)
	}
}

// FamilyResult is one cmd/eval --json report of a run of
// notebooks/pretrained/families.sh (an MNIST model of one family and seed)
// with the training time cmd/train printed.
type FamilyResult struct {
	// Family is "diffusion", "VAE" or "GAN"; Seed the training seed.
	Family string
	Seed   int64
	// Figures are cmd/eval's JSON figures (fd, kid, bits_per_dim, …).
	Figures Figures
	// TrainSeconds is the training run's wall time, Steps its steps.
	TrainSeconds float64
	Steps        int64
}

// Figure returns the named number of r's figures (NaN when absent).
func (r FamilyResult) Figure(name string) float64 { return r.Figures.Get(name) }

// RawGAN labels the GAN evaluated with its raw weights instead of their EMA
// (families.sh's gan-raw-sSEED.json).
const RawGAN = "GAN, raw weights"

// familyFiles maps each label of [ReadFamilyResults] to the prefix of its
// reports and of its training log.
var familyFiles = []struct{ label, prefix, train string }{
	{"diffusion", "diffusion", "diffusion"},
	{"VAE", "vae", "vae"},
	{"GAN", "gan", "gan"},
	{RawGAN, "gan-raw", "gan"},
}

// ReadFamilyResults reads the reports that families.sh wrote in dir:
// PREFIX-sSEED.json (the last line of cmd/eval --json) and the training log
// FAMILY-sSEED.train.log (cmd/train's output, whose "trained N steps in D"
// line gives the training time), for the diffusion models, VAEs and GANs,
// and the GANs' figures with their raw weights (gan-raw-sSEED.json, labelled
// [RawGAN]).
func ReadFamilyResults(dir string) ([]FamilyResult, error) {
	var out []FamilyResult
	for _, f := range familyFiles {
		reports, err := readSeedReports(dir, f.prefix)
		if err != nil {
			return nil, err
		}
		for _, rep := range reports {
			r := FamilyResult{Family: f.label, Seed: rep.seed, Figures: rep.figures}
			log := filepath.Join(dir, fmt.Sprintf("%s-s%d.train.log", f.train, r.Seed))
			if r.Steps, r.TrainSeconds, err = trainTime(log); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nb: no families.sh reports (FAMILY-sSEED.json) in %s", dir)
	}
	return out, nil
}

// seedReport is one PREFIX-sSEED.json file of a script's runs: the last
// line of cmd/eval --json for the run of seed SEED.
type seedReport struct {
	base    string // the file's path without ".json", to find its siblings
	seed    int64
	figures Figures
}

// readSeedReports reads every PREFIX-sSEED.json in dir, in seed order.
func readSeedReports(dir, prefix string) ([]seedReport, error) {
	matches, err := filepath.Glob(filepath.Join(dir, prefix+"-s*.json"))
	if err != nil {
		return nil, err
	}
	var out []seedReport
	for _, path := range matches {
		r := seedReport{base: strings.TrimSuffix(path, ".json")}
		if _, err := fmt.Sscanf(strings.TrimPrefix(filepath.Base(r.base), prefix+"-s"), "%d", &r.seed); err != nil {
			return nil, fmt.Errorf("nb: %s: no seed in the name: %w", path, err)
		}
		if r.figures, err = ReadFigures(path); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b seedReport) int { return cmp.Compare(a.seed, b.seed) })
	return out, nil
}

// trainTime reads cmd/train's "trained N steps in D (…)" line from a log.
func trainTime(path string) (steps int64, seconds float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d string
		if _, err := fmt.Sscanf(sc.Text(), "trained %d steps in %s", &steps, &d); err == nil {
			dur, err := time.ParseDuration(d)
			if err != nil {
				return 0, 0, fmt.Errorf("nb: %s: %w", path, err)
			}
			return steps, dur.Seconds(), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("nb: %s has no \"trained N steps in D\" line", path)
}

// familyJSON is how a FamilyRun is cached: Bound as null for a GAN (JSON
// has no NaN).
type familyJSON struct {
	plainRun
	Bound *float64
}

type plainRun FamilyRun

// MarshalJSON writes r with a NaN Bound (a GAN's) as null.
func (r FamilyRun) MarshalJSON() ([]byte, error) {
	v := familyJSON{plainRun: plainRun(r)}
	if !math.IsNaN(r.Bound) {
		v.Bound = &r.Bound
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads what MarshalJSON wrote (a null Bound as NaN).
func (r *FamilyRun) UnmarshalJSON(b []byte) error {
	var v familyJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = FamilyRun(v.plainRun)
	r.Bound = math.NaN()
	if v.Bound != nil {
		r.Bound = *v.Bound
	}
	return nil
}

// FamilyResultTable writes, for each family with reports in rs, the mean ±
// standard deviation over its seeds of the classifier Fréchet distance (and
// its value for each seed, in the order of the seeds), of the KID of its
// samples and of its bound in bits/dim (over the seeds that have
// it; "—" for a GAN). Times are left out: families.sh's runs share the
// machine with whatever else ran, so a notebook measures them itself.
func FamilyResultTable(w io.Writer, rs []FamilyResult) {
	fmt.Fprintf(w, "%-17s %5s  %-15s  %-22s  %-15s  %s\n", "", "seeds", "FD", "FD of seed 0, 1, …", "KID", "bits/dim")
	bySeedOrder := slices.SortedFunc(slices.Values(rs), func(a, b FamilyResult) int { return cmp.Compare(a.Seed, b.Seed) })
	for _, ff := range familyFiles {
		f := ff.label
		var fd, kid, bpd []float64
		var bySeed []string
		for _, r := range bySeedOrder {
			if r.Family != f {
				continue
			}
			fd, kid, bpd = append(fd, r.Figure("samples_fd")), append(kid, r.Figure("samples_kid")), append(bpd, r.Figure("bits_per_dim"))
			bySeed = append(bySeed, fmt.Sprintf("%.0f", r.Figure("samples_fd")))
		}
		if len(fd) == 0 {
			continue
		}
		// The bound may have been taken for some seeds only (families.sh's
		// BOUND_SEEDS): the mean of those, with their number when not all.
		var got []float64
		for _, v := range bpd {
			if !math.IsNaN(v) {
				got = append(got, v)
			}
		}
		bits := PlusMinus("%.3f", got)
		if len(got) == 1 {
			bits = fmt.Sprintf("%.3f (1 seed)", got[0])
		} else if len(got) > 0 && len(got) < len(bpd) {
			bits += fmt.Sprintf(" (%d seeds)", len(got))
		}
		fmt.Fprintf(w, "%-17s %5d  %-15s  %-22s  %-15s  %s\n", f, len(fd), PlusMinus("%.1f", fd), strings.Join(bySeed, ", "), PlusMinus("%.2f", kid), bits)
	}
}
