package diffusion

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// Model is a denoiser as the sampling core sees it: one function of the
// noisy sample, the noise level and the condition, whatever the model was
// trained as (a DDPM denoiser on T discrete steps, a score model of a
// continuous SDE). Every sampler, evaluator and guidance rule takes a Model;
// build one with [Process.Model], score.Model or a wrapper such as
// [ClassifierFree].
type Model struct {
	// Net builds the network's output at x ([B, ...]), noise level lv and
	// condition c: the Prediction channels, followed (on the last axis) by as
	// many learned-variance channels when LearnedVariance.
	Net func(scope *model.Scope, x *Node, lv LevelNodes, c cond.Nodes) *Node
	// Prediction says what Net's (first) channels hold.
	Prediction Prediction
	// LearnedVariance says Net's output has the extra channels v of the
	// Learned variance (DDPM's ancestral sampler uses them).
	LearnedVariance bool
	// Levels are the noise levels the model was trained on; samplers build
	// their grids from them.
	Levels NoiseLevels
	// Inputs lists the condition inputs the model reads (such as
	// cond.Class); empty for an unconditional model.
	Inputs []string
	// Classes is K, the number of class labels, when Inputs holds cond.Class.
	Classes int
}

// LevelNodes is a noise level inside a graph, one per example: T, Alpha and
// Sigma are each [B] in x's dtype.
type LevelNodes struct {
	T, Alpha, Sigma *Node
}

// ConstLevelNodes returns the level lv for a batch of b examples of dtype dt.
func ConstLevelNodes(g *Graph, lv Level, b int, dt dtypes.DType) LevelNodes {
	c := func(v float64) *Node { return BroadcastToDims(Scalar(g, dt, v), b) }
	return LevelNodes{T: c(lv.T), Alpha: c(lv.Alpha), Sigma: c(lv.Sigma)}
}

// Conditional reports whether the model reads any condition input.
func (m Model) Conditional() bool { return len(m.Inputs) > 0 }

// Validate reports a model that cannot be sampled.
func (m Model) Validate() error {
	if m.Net == nil {
		return fmt.Errorf("diffusion: the model has no network (Net is nil)")
	}
	if m.Levels == nil {
		return fmt.Errorf("diffusion: the model has no noise levels")
	}
	if _, ok := predictionNames[m.Prediction]; !ok {
		return fmt.Errorf("diffusion: the model has an unknown prediction %v", m.Prediction)
	}
	if slices.Contains(m.Inputs, cond.Class) != (m.Classes > 0) {
		return fmt.Errorf("diffusion: a class-conditional model needs both the %q input and Classes > 0 (inputs %v, %d classes)",
			cond.Class, m.Inputs, m.Classes)
	}
	return nil
}

// CheckCondition reports a condition the model cannot take: an input it does
// not read, or a class label out of range.
func (m Model) CheckCondition(c cond.Condition) error {
	for _, name := range c.Names() {
		if !slices.Contains(m.Inputs, name) {
			if !m.Conditional() {
				return fmt.Errorf("diffusion: the model is not conditional; it cannot take the condition input %q", name)
			}
			return fmt.Errorf("diffusion: the model reads the condition inputs %v, not %q", m.Inputs, name)
		}
	}
	if ids, ok := c.Inputs[cond.Text]; ok {
		if ids == nil || ids.DType() != dtypes.Int32 || ids.Shape().Rank() != 2 {
			return fmt.Errorf("diffusion: the %q input must be token ids int32 [B, L], got %s", cond.Text, shapeString(ids))
		}
	}
	labels, err := c.Labels()
	if err != nil {
		return err
	}
	for i, l := range labels {
		if l < 0 || int(l) >= m.Classes {
			return fmt.Errorf("diffusion: class label %d (example %d) is out of range: the model has classes 0…%d", l, i, m.Classes-1)
		}
	}
	return nil
}

// WithClasses returns m declared class-conditional on k labels: it reads
// the cond.Class input (labels in [0, k)) besides any others it reads.
func (m Model) WithClasses(k int) Model {
	if !slices.Contains(m.Inputs, cond.Class) {
		m.Inputs = append(slices.Clone(m.Inputs), cond.Class)
	}
	m.Classes = k
	return m
}

// WithText returns m declared text-conditional: it reads the cond.Text
// input (prompts as token ids int32 [B, L]) besides any others it reads.
func (m Model) WithText() Model {
	if !slices.Contains(m.Inputs, cond.Text) {
		m.Inputs = append(slices.Clone(m.Inputs), cond.Text)
	}
	return m
}

func shapeString(t *tensors.Tensor) string {
	if t == nil {
		return "nil"
	}
	return t.Shape().String()
}

// Model returns the denoiser den, trained on this process's steps, as an
// unconditional sampling Model on the process's own noise levels (see
// [Model.WithClasses] for a conditional one): a level at time t reaches the
// network as the training step Index(t) (the index into the original
// schedule for a respaced process, see [Process.ModelTimesteps]). The graph
// restates [Process.Index]'s formula, unavoidably: there t is a node, not a
// float64.
func (p *Process) Model(den Denoiser) Model {
	T := float64(p.T())
	return Model{
		Net: func(scope *model.Scope, x *Node, lv LevelNodes, c cond.Nodes) *Node {
			// Index(t) = round(t T) − 1, clamped to [0, T−1].
			idx := ConvertDType(ClipScalar(AddScalar(Round(MulScalar(ConvertDType(lv.T, dtypes.Float64), T)), -1), 0, T-1), dtypes.Int32)
			return den.Fn(scope, x, p.ModelTimesteps(idx), c)
		},
		Prediction:      den.Prediction,
		LearnedVariance: den.LearnedVariance,
		Levels:          p,
	}
}

// perExampleNode reshapes a [B] node v to [B, 1, …, 1], of like's rank, to
// broadcast against like (whose first axis is the same batch).
func perExampleNode(v, like *Node) *Node {
	dims := make([]int, like.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = v.Shape().Dimensions[0]
	return Reshape(v, dims...)
}

// SplitOutput separates a network's output into the prediction and, when
// learned is set, the variance channels v (nil otherwise), on the last axis.
func SplitOutput(out *Node, learned bool) (pred, v *Node) {
	if !learned {
		return out, nil
	}
	parts := Split(out, -1, 2)
	return parts[0], parts[1]
}

// EpsFromOutput converts a prediction of type pred at x and level lv into
// ε̂ (see [Output] for the formulas), inside a graph.
func EpsFromOutput(pred Prediction, x, out *Node, lv LevelNodes) *Node {
	a, s := perExampleNode(lv.Alpha, x), perExampleNode(lv.Sigma, x)
	switch pred {
	case PredictEpsilon:
		return out
	case PredictX0:
		return Div(Sub(x, Mul(a, out)), s)
	case PredictV:
		return Div(Add(Mul(s, x), Mul(a, out)), Add(Square(a), Square(s)))
	case PredictScore:
		return Neg(Mul(s, out))
	}
	exceptions.Panicf("diffusion: unknown prediction %v", pred)
	return nil
}
