package nb

// Helpers of notebook 5 (score-based models): score models as one type
// (exact, learned by denoising score matching, or a DDPM ε-model read as a
// score), evaluating one at given points, sampling one, and drawing vector
// fields as arrows.

import (
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/diffusion/score"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
	"github.com/godiffusion/diffusion-models/tutorial/toy2d"
)

// Gaussians8Mixture is toy2d.Gaussians8 as an exact mixture (score.Mixture):
// 8 equally weighted modes of standard deviation 0.1 on the circle of
// radius 2, whose score is known in closed form at every noise level.
func Gaussians8Mixture() *score.Mixture { return Must(score.RingMixture(8, 2, 0.1)) }

// NamedSDE is the SDE named "vp", "subvp" or "ve", with Song et al.'s
// parameters (score.NewSDE).
func NamedSDE(name string) score.SDE { return Must(score.NewSDE(name)) }

// ScoreModel is a score model s(x, t) ready to evaluate or sample: its graph
// function, its weights (nil for an exact model, which has none) and its
// SDE.
type ScoreModel struct {
	// Name is how tables and titles call it ("exact", "learned", …).
	Name string
	// Fn is the graph of s(x, t).
	Fn score.ScoreFn
	// Store holds the weights; nil for a model without weights.
	Store *gmodel.Store
	// SDE is the forward SDE whose marginals p_t the score is of.
	SDE score.SDE
	// Trained is the trained run behind a learned model (its configuration,
	// checkpoint and loss history); nil for an exact model.
	Trained *experiment.Trained
}

// ExactScore is the exact score ∇ log p_t of [Gaussians8Mixture] under sde
// (score.Mixture.ScoreFn): no training, no weights.
func ExactScore(sde score.SDE) ScoreModel {
	return ScoreModel{Name: "exact", Fn: Gaussians8Mixture().ScoreFn(sde), SDE: sde}
}

// ScoreConfig is the configuration of notebook 5's learned score model: the
// 2-D default network (ReLU MLP 128×3) as a noise predictor on gaussians8,
// trained by denoising score matching under the VP SDE with learning rate
// 2e-3.
func ScoreConfig() experiment.Config {
	c := experiment.Default2D("gaussians8").WithScore("vp")
	c.LearningRate = 2e-3
	return c
}

// LearnedScore is the model of [ScoreConfig] trained for steps steps
// (loaded from [CacheDir] or trained now, see [Model]), with its EMA
// weights.
func LearnedScore(steps int64) ScoreModel {
	m := Model(ScoreConfig(), steps)
	return ScoreModel{Name: "learned", Fn: m.Score, Store: Must(diffusion.SamplingStore(m.Checkpoint, true)), SDE: m.SDE, Trained: m}
}

// DDPMScore is the ε-model of notebooks 2–4 (experiment.Default2D on
// gaussians8, 3000 steps) read as a score model of the VP SDE through
// score.DenoiserScore: s(x, t) = −ε̂(x, i)/√(1 − ᾱ_i), with i the training
// step nearest t.
func DDPMScore() ScoreModel {
	m := Model(experiment.Default2D("gaussians8"), 3000)
	return ScoreModel{Name: "DDPM ε-model", Fn: score.DenoiserScore(m.Process, m.Denoiser), SDE: NamedSDE("vp"),
		Store: Must(diffusion.SamplingStore(m.Checkpoint, true)), Trained: m}
}

// ScoreAt evaluates the score model m at the points pts, all at time t.
func ScoreAt(m ScoreModel, pts []toy2d.Point, t float64) []toy2d.Point {
	store := m.Store
	if store == nil {
		store = gmodel.NewStore()
	}
	exec := Must(gmodel.NewExec(Backend(), store, func(scope *gmodel.Scope, x, tt *graph.Node) *graph.Node {
		return m.Fn(scope.In(diffusion.ModelScope), x, tt, cond.Nodes{})
	}))
	defer exec.Finalize()
	ts := make([]float32, len(pts))
	for i := range ts {
		ts[i] = float32(t)
	}
	return Points(Must(exec.Call1(tensors.FromFlatDataAndDimensions(toy2d.Flatten32(pts), len(pts), 2),
		tensors.FromFlatDataAndDimensions(ts, len(pts)))))
}

// DrawScore samples n points from the score model m with sampler s (any
// diffusion.Solver: the score model is a diffusion.Model of its SDE through
// score.Model), from seed.
func DrawScore(m ScoreModel, s diffusion.Solver, n int, seed int64) []toy2d.Point {
	return Points(Must(diffusion.Sample(Backend(), m.Store, score.Model(m.SDE, m.Fn), s, n, []int{2}, diffusion.SampleOptions{Seed: seed})))
}

// FromRows converts rows of two float64 values (as score.Mixture.Sample
// returns them) to 2-D points.
func FromRows(rows [][]float64) []toy2d.Point {
	out := make([]toy2d.Point, len(rows))
	for i, r := range rows {
		out[i] = toy2d.Point{r[0], r[1]}
	}
	return out
}

// GridPoints returns the k×k points evenly spaced on [−r, r]² (corners
// included, x-major) and their spacing h = 2r/(k−1); k ≥ 2.
func GridPoints(k int, r float64) ([]toy2d.Point, float64) {
	h := 2 * r / float64(k-1)
	pts := make([]toy2d.Point, 0, k*k)
	for i := range k {
		for j := range k {
			pts = append(pts, toy2d.Point{-r + float64(i)*h, -r + float64(j)*h})
		}
	}
	return pts, h
}

// Length is the Euclidean length of v.
func Length(v toy2d.Point) float64 { return math.Hypot(v[0], v[1]) }

// Arrows draws the vectors vs at the points ps as arrows, all in one line
// series (NaN breaks the line between pieces). An arrow starts at its point
// and points along its vector; its length is maxLen·|v|/limit, at most
// maxLen (for |v| ≥ limit), so that a field whose size varies a lot stays
// readable. Its two barbs are 35% of its length, at ±150° from its
// direction. Zero vectors draw nothing.
func Arrows(ps, vs []toy2d.Point, maxLen, limit float64) plots.Series {
	var s plots.Series
	nan := math.NaN()
	c, sn := 0.35*math.Cos(150*math.Pi/180), 0.35*math.Sin(150*math.Pi/180)
	for i, p := range ps {
		l := Length(vs[i])
		if l == 0 {
			continue
		}
		k := maxLen * math.Min(l, limit) / limit / l
		dx, dy := k*vs[i][0], k*vs[i][1]
		tx, ty := p[0]+dx, p[1]+dy
		s.X = append(s.X, p[0], tx, tx+c*dx-sn*dy, nan, tx, tx+c*dx+sn*dy, nan)
		s.Y = append(s.Y, p[1], ty, ty+sn*dx+c*dy, nan, ty, ty-sn*dx+c*dy, nan)
	}
	return s
}

// Circles draws, for every component k of the mixture m (2-D), the circle
// of radius one standard deviation s_k around its mean μ_k, 48 segments
// each, in one line series.
func Circles(m *score.Mixture) plots.Series {
	var s plots.Series
	for k, mu := range m.Means {
		for i := 0; i <= 48; i++ {
			a := 2 * math.Pi * float64(i) / 48
			s.X = append(s.X, mu[0]+m.Stds[k]*math.Cos(a))
			s.Y = append(s.Y, mu[1]+m.Stds[k]*math.Sin(a))
		}
		s.X, s.Y = append(s.X, math.NaN()), append(s.Y, math.NaN())
	}
	return s
}
