package score

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// Mixture is a mixture of isotropic Gaussians in D dimensions,
//
//	p(x) = Σ_k w_k N(x; μ_k, s_k² I),
//
// the data distribution whose score is known in closed form at every t of a
// linear SDE (see [Mixture.At], [Mixture.Model] and [Mixture.ScoreFn]). Build it with
// [NewMixture] or [RingMixture]; the zero value has no components and is
// not usable.
type Mixture struct {
	// Means holds μ_k, one D-vector per component.
	Means [][]float64
	// Stds holds s_k > 0, the standard deviation of component k along every axis.
	Stds []float64
	// Weights holds w_k ≥ 0, summing to 1.
	Weights []float64
}

// NewMixture checks and copies a mixture: means is K × D (K ≥ 1, D ≥ 1, every
// row of the same length and finite), stds has K entries > 0, and weights has
// K entries ≥ 0 with a positive sum (they are normalised to sum to 1), or is
// nil for equal weights.
func NewMixture(means [][]float64, stds, weights []float64) (*Mixture, error) {
	k := len(means)
	if k == 0 || len(means[0]) == 0 {
		return nil, fmt.Errorf("score: NewMixture needs at least one component of dimension ≥ 1")
	}
	if len(stds) != k {
		return nil, fmt.Errorf("score: NewMixture: %d means but %d stds", k, len(stds))
	}
	if weights != nil && len(weights) != k {
		return nil, fmt.Errorf("score: NewMixture: %d means but %d weights", k, len(weights))
	}
	d := len(means[0])
	m := &Mixture{Means: make([][]float64, k), Stds: make([]float64, k), Weights: make([]float64, k)}
	total := 0.0
	for i := range k {
		if len(means[i]) != d {
			return nil, fmt.Errorf("score: NewMixture: mean %d has %d coordinates, mean 0 has %d", i, len(means[i]), d)
		}
		for _, v := range means[i] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("score: NewMixture: mean %d is not finite: %v", i, means[i])
			}
		}
		if !(stds[i] > 0) || math.IsInf(stds[i], 0) {
			return nil, fmt.Errorf("score: NewMixture: std %d = %v, want finite and > 0", i, stds[i])
		}
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		if !(w >= 0) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("score: NewMixture: weight %d = %v, want finite and ≥ 0", i, w)
		}
		m.Means[i] = append([]float64(nil), means[i]...)
		m.Stds[i] = stds[i]
		m.Weights[i] = w
		total += w
	}
	if !(total > 0) {
		return nil, fmt.Errorf("score: NewMixture: weights sum to %v, want > 0", total)
	}
	for i := range m.Weights {
		m.Weights[i] /= total
	}
	return m, nil
}

// RingMixture returns the equal-weight mixture of k isotropic 2-D Gaussians
// of standard deviation std centred on a circle of radius r:
// μ_j = r (cos 2πj/k, sin 2πj/k). RingMixture(8, 2, 0.1) is the toy2d
// "gaussians8" data set.
func RingMixture(k int, r, std float64) (*Mixture, error) {
	if k < 1 {
		return nil, fmt.Errorf("score: RingMixture needs k ≥ 1 components, got %d", k)
	}
	means := make([][]float64, k)
	stds := make([]float64, k)
	for j := range k {
		s, c := math.Sincos(2 * math.Pi * float64(j) / float64(k))
		means[j] = []float64{r * c, r * s}
		stds[j] = std
	}
	return NewMixture(means, stds, nil)
}

// Dim returns D, the dimension of the data.
func (m *Mixture) Dim() int { return len(m.Means[0]) }

// At returns the marginal p_t of the mixture pushed through the SDE: each
// component is Gaussian and x_t | x₀ ~ N(m(t) x₀, σ(t)² I), so
//
//	p_t(x) = Σ_k w_k N(x; m(t) μ_k, (m(t)² s_k² + σ(t)²) I).
func (m *Mixture) At(sde SDE, t float64) *Mixture {
	mean, std := sde.Marginal(t)
	out := &Mixture{Means: make([][]float64, len(m.Means)), Stds: make([]float64, len(m.Stds)),
		Weights: append([]float64(nil), m.Weights...)}
	for k, mu := range m.Means {
		out.Means[k] = make([]float64, len(mu))
		for i, v := range mu {
			out.Means[k][i] = mean * v
		}
		out.Stds[k] = math.Sqrt(mean*mean*m.Stds[k]*m.Stds[k] + std*std)
	}
	return out
}

// logTerms returns ℓ_k = log w_k + log N(x; μ_k, s_k² I)
// = log w_k − ½ |x − μ_k|²/s_k² − (D/2) log(2π s_k²).
func (m *Mixture) logTerms(x []float64) []float64 {
	if len(x) != m.Dim() {
		panic(fmt.Sprintf("score: Mixture: point has %d coordinates, the mixture %d", len(x), m.Dim()))
	}
	d := float64(m.Dim())
	l := make([]float64, len(m.Means))
	for k, mu := range m.Means {
		v := m.Stds[k] * m.Stds[k]
		sq := 0.0
		for i, xi := range x {
			sq += (xi - mu[i]) * (xi - mu[i])
		}
		l[k] = math.Log(m.Weights[k]) - 0.5*sq/v - 0.5*d*math.Log(2*math.Pi*v)
	}
	return l
}

// Responsibilities returns r_k(x) = w_k N(x; μ_k, s_k² I) / p(x), the
// posterior probability that x came from component k, computed as a softmax
// of the log-terms (stable far from every mode).
func (m *Mixture) Responsibilities(x []float64) []float64 {
	l := m.logTerms(x)
	top := math.Inf(-1)
	for _, v := range l {
		top = max(top, v)
	}
	sum := 0.0
	for k, v := range l {
		l[k] = math.Exp(v - top)
		sum += l[k]
	}
	for k := range l {
		l[k] /= sum
	}
	return l
}

// LogDensity returns log p(x) = log Σ_k exp(ℓ_k) by log-sum-exp, with
// ℓ_k = log w_k − ½ |x − μ_k|²/s_k² − (D/2) log(2π s_k²).
func (m *Mixture) LogDensity(x []float64) float64 {
	l := m.logTerms(x)
	top := math.Inf(-1)
	for _, v := range l {
		top = max(top, v)
	}
	sum := 0.0
	for _, v := range l {
		sum += math.Exp(v - top)
	}
	return top + math.Log(sum)
}

// Score returns ∇ log p(x) = Σ_k r_k(x) (μ_k − x)/s_k².
func (m *Mixture) Score(x []float64) []float64 {
	r := m.Responsibilities(x)
	s := make([]float64, len(x))
	for k, mu := range m.Means {
		c := r[k] / (m.Stds[k] * m.Stds[k])
		for i := range s {
			s[i] += c * (mu[i] - x[i])
		}
	}
	return s
}

// Sample draws n points: a component k with probability w_k, then
// μ_k + s_k z with z ~ N(0, I).
func (m *Mixture) Sample(rng *rand.Rand, n int) [][]float64 {
	out := make([][]float64, n)
	for j := range out {
		u, k := rng.Float64(), 0
		for k < len(m.Weights)-1 && u >= m.Weights[k] {
			u -= m.Weights[k]
			k++
		}
		x := make([]float64, m.Dim())
		for i := range x {
			x[i] = m.Means[k][i] + m.Stds[k]*rng.NormFloat64()
		}
		out[j] = x
	}
	return out
}

// ScoreFn returns the exact score of the mixture's marginal under sde as a
// score model, with no variables (see [Mixture.Model], which it shares its
// graph with): s(x, t) = ∇ log p_t(x), or, for an example whose condition
// holds the class label k (and is not null), ∇ log p_t(x | k), the score of
// component k alone (as [Mixture.ConditionalModel]).
func (m *Mixture) ScoreFn(sde SDE) ScoreFn {
	return func(_ *model.Scope, x, t *Node, c cond.Nodes) *Node {
		mt, st := sde.GraphMarginal(ConvertDType(t, x.DType()))
		return m.score(x, mt, st, c)
	}
}

// Model returns the exact score of the mixture at every level of levels
// (any process: discrete or an SDE) as an unconditional sampling model, with
// no variables:
//
//	s(x) = ∇ log p_t(x) = Σ_k r_k(x) (α μ_k − x)/v_k,   v_k = α² s_k² + σ²,
//	r_k = softmax_k(log w_k − ½ |x − α μ_k|²/v_k − (D/2) log v_k),
//
// where the softmax subtracts the largest logit, so points far from every
// mode get finite responsibilities. With it as the model, samplers must
// reproduce p_ε (see [Mixture.At]) without training. It ignores any
// condition; [Mixture.ConditionalModel] reads the component.
func (m *Mixture) Model(levels diffusion.NoiseLevels) diffusion.Model {
	return diffusion.Model{
		Net: func(_ *model.Scope, x *Node, lv diffusion.LevelNodes, _ cond.Nodes) *Node {
			return m.score(x, lv.Alpha, lv.Sigma, cond.Nodes{})
		},
		Prediction: diffusion.PredictScore,
		Levels:     levels,
	}
}

// ConditionalModel is [Mixture.Model] conditioned on the component: an
// example whose condition holds the label k (cond.Class, not null) gets the
// score of component k alone, ∇ log p_t(x | k) (r_k = 1); a null example
// gets the mixture's. It is the exact class-conditional model that
// classifier-free guidance needs, with K = the number of components.
func (m *Mixture) ConditionalModel(levels diffusion.NoiseLevels) diffusion.Model {
	return diffusion.Model{
		Net: func(_ *model.Scope, x *Node, lv diffusion.LevelNodes, c cond.Nodes) *Node {
			return m.score(x, lv.Alpha, lv.Sigma, c)
		},
		Prediction: diffusion.PredictScore,
		Levels:     levels,
		Inputs:     []string{cond.Class},
		Classes:    len(m.Means),
	}
}

// ClassLogProb returns the exact classifier of the mixture's components at
// every level, log p_t(k | x) = log softmax_k of the logits of [Mixture.Model]
// (0 for null examples), for classifier guidance (diffusion.ClassifierGuided).
func (m *Mixture) ClassLogProb() diffusion.ClassifierFn {
	return func(_ *model.Scope, x *Node, lv diffusion.LevelNodes, c cond.Nodes) *Node {
		logits, _, _ := m.logits(x, lv.Alpha, lv.Sigma)
		b, k := x.Shape().Dimensions[0], len(m.Means)
		labels := c.Get(cond.Class)
		if labels == nil {
			return ZerosLike(Reshape(lv.T, b))
		}
		logp := ReduceSum(Mul(LogSoftmax(logits, -1), OneHot(labels, k, x.DType())), -1)
		return Where(c.NullMask(x.Graph(), b), ZerosLike(logp), logp)
	}
}

// logits returns, for x [B, ...] and α, σ [B], the logits
// log w_k − ½ |x − α μ_k|²/v_k − (D/2) log v_k ([B, K]), the differences
// x − α μ_k ([B, K, D]) and the variances v_k = α² s_k² + σ² ([B, K]).
func (m *Mixture) logits(x, alpha, sigma *Node) (logits, diff, v *Node) {
	k, d := len(m.Means), m.Dim()
	flatMeans := make([]float64, 0, k*d)
	logW := make([]float64, k)
	vars := make([]float64, k)
	for j, mu := range m.Means {
		flatMeans = append(flatMeans, mu...)
		logW[j] = math.Log(m.Weights[j])
		vars[j] = m.Stds[j] * m.Stds[j]
	}
	g, dt := x.Graph(), x.DType()
	b := x.Shape().Dimensions[0]
	if x.Shape().Size() != b*d {
		exceptions.Panicf("score: Mixture: x shaped %s has %d elements per example, the mixture has dimension %d",
			x.Shape(), x.Shape().Size()/max(b, 1), d)
	}
	alpha, sigma = ConvertDType(alpha, dt), ConvertDType(sigma, dt)
	xf := Reshape(x, b, 1, d)                                                                                          // [B,1,D]
	mu := Reshape(ConstAsDType(g, dt, flatMeans), 1, k, d)                                                             // [1,K,D]
	diff = Sub(xf, Mul(Reshape(alpha, b, 1, 1), mu))                                                                   // x − α μ_k: [B,K,D]
	v = Add(Mul(Square(Reshape(alpha, b, 1)), Reshape(ConstAsDType(g, dt, vars), 1, k)), Reshape(Square(sigma), b, 1)) // [B,K]
	logits = Sub(Add(Reshape(ConstAsDType(g, dt, logW), 1, k),
		MulScalar(Div(ReduceSum(Square(diff), -1), v), -0.5)), MulScalar(Log(v), 0.5*float64(d)))
	return logits, diff, v
}

// score is the mixture's score at x for α, σ [B], conditioned on the
// component for labelled, non-null examples of c.
func (m *Mixture) score(x, alpha, sigma *Node, c cond.Nodes) *Node {
	logits, diff, v := m.logits(x, alpha, sigma)
	b, k := x.Shape().Dimensions[0], len(m.Means)
	if labels := c.Get(cond.Class); labels != nil {
		g := x.Graph()
		keep := LogicalOr(ConvertDType(OneHot(labels, k, dtypes.Int32), dtypes.Bool),
			BroadcastToDims(Reshape(c.NullMask(g, b), b, 1), b, k)) // [B,K]
		logits = Where(keep, logits, ConstAsDType(g, x.DType(), -1e30))
	}
	r := Softmax(logits, -1)                                       // [B,K]
	s := Neg(ReduceSum(Mul(Reshape(Div(r, v), b, k, 1), diff), 1)) // [B,D]
	return Reshape(s, x.Shape().Dimensions...)
}
