package diffusion

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// Guidance is a wrapper of the model, not of each sampler: every solver
// samples a guided model as it samples any other.

// ClassifierFree returns m under classifier-free guidance with weight w (Ho
// & Salimans 2022):
//
//	ε̃(x, c) = ε(x, ∅) + w (ε(x, c) − ε(x, ∅)),
//
// computed in one call of the network on a doubled batch [x, x] with the
// condition [c, ∅] (cond.Nodes.WithNull). w = 1 is no guidance (ε̃ = ε(x, c)),
// w = 0 the unconditional model, w > 1 pushes samples towards what the
// condition makes likely. The combination is applied to the network's
// prediction channels of any type (ε, x₀, v and score are affine in ε̂ at a
// fixed x, with weights summing to 1); learned-variance channels are taken
// from the conditional half. It refuses a model that reads no condition.
func ClassifierFree(m Model, w float64) (Model, error) {
	if !m.Conditional() {
		return Model{}, fmt.Errorf("diffusion: classifier-free guidance needs a conditional model; this one reads no condition")
	}
	g := m
	net := m.Net
	g.Net = func(scope *model.Scope, x *Node, lv LevelNodes, c cond.Nodes) *Node {
		b := x.Shape().Dimensions[0]
		two := func(v *Node) *Node { return Concatenate([]*Node{v, v}, 0) }
		out := net(scope, two(x), LevelNodes{T: two(lv.T), Alpha: two(lv.Alpha), Sigma: two(lv.Sigma)}, c.WithNull(x.Graph(), b))
		oc, ou := Slice(out, AxisRange(0, b)), Slice(out, AxisRange(b, 2*b))
		pc, vc := SplitOutput(oc, m.LearnedVariance)
		pu, _ := SplitOutput(ou, m.LearnedVariance)
		guided := Add(pu, MulScalar(Sub(pc, pu), w))
		if vc != nil {
			guided = Concatenate([]*Node{guided, vc}, -1)
		}
		return guided
	}
	return g, nil
}

// ClassifierFn is a classifier of noisy samples: log p_t(c | x) for each
// example ([B]) at level lv, for the condition c (0 for examples whose
// condition is null). Its gradient with respect to x guides sampling.
type ClassifierFn func(scope *model.Scope, x *Node, lv LevelNodes, c cond.Nodes) *Node

// ClassifierGuided returns m under classifier guidance with weight w
// (Dhariwal & Nichol 2021, with the score form of Song et al. 2021):
//
//	∇ log p̃_t(x | c) = ∇ log p_t(x) + w ∇ log p_t(c | x),
//	ε̃ = ε̂ − w σ ∇_x log p_t(c | x)     (ε̂ = −σ ∇ log p_t),
//
// where ∇_x log p_t(c | x) is the gradient of clf, taken by automatic
// differentiation. w = 1 samples p_t(x | c) exactly when the model's score
// and the classifier are exact; w = 0 ignores the classifier. The guided
// model predicts ε (learned-variance channels pass through) and takes class
// labels in [0, classes) for the classifier (the model itself may be
// unconditional).
func ClassifierGuided(m Model, clf ClassifierFn, classes int, w float64) (Model, error) {
	if clf == nil {
		return Model{}, fmt.Errorf("diffusion: classifier guidance needs a classifier")
	}
	if classes < 1 || (m.Classes > 0 && m.Classes != classes) {
		return Model{}, fmt.Errorf("diffusion: classifier guidance over %d classes for a model of %d classes", classes, m.Classes)
	}
	g := m.WithClasses(classes)
	g.Prediction = PredictEpsilon
	net := m.Net
	g.Net = func(scope *model.Scope, x *Node, lv LevelNodes, c cond.Nodes) *Node {
		out := net(scope, x, lv, c)
		pred, v := SplitOutput(out, m.LearnedVariance)
		eps := EpsFromOutput(m.Prediction, x, pred, lv)
		grad := Gradient(ReduceAllSum(clf(scope, x, lv, c)), x)[0]
		eps = Sub(eps, Mul(MulScalar(perExampleNode(lv.Sigma, x), w), grad))
		if v != nil {
			eps = Concatenate([]*Node{eps, v}, -1)
		}
		return eps
	}
	return g, nil
}
