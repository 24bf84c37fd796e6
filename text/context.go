package text

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the math
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/godiffusion/diffusion-models/diffusion/cond"
)

// Context turns the prompts of a condition into what a cross-attention
// network reads: for the token ids of cn's cond.Text input ([batch, L]) it
// returns the condition whose cond.Context input is the encoder's output
// tokens [batch, L, Width] and whose cond.ContextMask marks their real
// positions. The null condition ∅ of classifier-free guidance is the empty
// prompt: the examples cn marks null (cond.Nodes.NullMask), and all of
// them when cn has no prompts, are encoded as [BOS, PAD, …] whatever their
// ids. The encoder's weights live in scope; its output is a constant for
// the network (StopGradient), as a frozen, pretrained text encoder is. g is
// the graph being built (cn may have no node of it).
func (c EncoderConfig) Context(scope *model.Scope, g *Graph, cn cond.Nodes, batch int) cond.Nodes {
	c = c.WithDefaults()
	ids := cn.Get(cond.Text)
	l := c.MaxLen
	if ids != nil {
		if ids.Rank() != 2 || ids.Shape().Dimensions[0] != batch {
			exceptions.Panicf("text: the prompts' ids must be [%d, L], got %s", batch, ids.Shape())
		}
		l = ids.Shape().Dimensions[1]
	}
	empty := make([]int32, l)
	empty[0] = BOSID // the rest PadID (0)
	emptyIDs := BroadcastToDims(Reshape(Const(g, empty), 1, l), batch, l)
	if ids == nil {
		ids = emptyIDs
	} else {
		null := BroadcastToDims(Reshape(cn.NullMask(g, batch), batch, 1), batch, l)
		ids = Where(null, emptyIDs, ConvertDType(ids, emptyIDs.DType()))
	}
	tokens, mask := c.Encode(scope, ids)
	return cond.Nodes{Inputs: map[string]*Node{cond.Context: StopGradient(tokens), cond.ContextMask: mask}}
}
