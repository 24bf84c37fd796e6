package unet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
)

// refAttention is AttentionBlock written as loops in float64 on x [C,B,P]:
// GroupNorm, q/k/v = h·W + b (columns 0..C−1, C..2C−1, 2C..3C−1 of wqkv
// [C,3C]), per head softmax(q·kᵀ/√d)·v, projection wp [C,C] + bp, residual.
func refAttention(x []float64, c, b, p, heads, groups int, gs, gb, wqkv, bqkv, wp, bp []float64) []float64 {
	h := refGroupNorm(x, c, b, p, groups, gs, gb, 1e-5)
	proj := func(part int) []float64 { // [C,B,P]
		out := make([]float64, c*b*p)
		for co := range c {
			for n := range b {
				for q := range p {
					s := bqkv[part*c+co]
					for ci := range c {
						s += h[(ci*b+n)*p+q] * wqkv[ci*3*c+part*c+co]
					}
					out[(co*b+n)*p+q] = s
				}
			}
		}
		return out
	}
	q, k, v := proj(0), proj(1), proj(2)
	d := c / heads
	o := make([]float64, c*b*p)
	for n := range b {
		for hd := range heads {
			for i := range p {
				logits := make([]float64, p)
				mx := math.Inf(-1)
				for j := range p {
					for e := range d {
						ch := hd*d + e
						logits[j] += q[(ch*b+n)*p+i] * k[(ch*b+n)*p+j]
					}
					logits[j] /= math.Sqrt(float64(d))
					mx = max(mx, logits[j])
				}
				var z float64
				for j := range logits {
					logits[j] = math.Exp(logits[j] - mx)
					z += logits[j]
				}
				for e := range d {
					ch := hd*d + e
					for j := range p {
						o[(ch*b+n)*p+i] += logits[j] / z * v[(ch*b+n)*p+j]
					}
				}
			}
		}
	}
	y := make([]float64, len(x))
	for co := range c {
		for n := range b {
			for i := range p {
				s := x[(co*b+n)*p+i] + bp[co]
				for ci := range c {
					s += o[(ci*b+n)*p+i] * wp[ci*c+co]
				}
				y[(co*b+n)*p+i] = s
			}
		}
	}
	return y
}

// TestAttentionBlock compares AttentionBlock with refAttention on a tiny
// input with random weights, for one and two heads.
func TestAttentionBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const c, b, hh, ww, groups = 4, 2, 2, 3, 2
	p := hh * ww
	for _, heads := range []int{1, 2} {
		t.Run(fmt.Sprint(heads, "heads"), func(t *testing.T) {
			gs, gb := randVec(rng, c), randVec(rng, c)
			wqkv, bqkv := randVec(rng, c*3*c), randVec(rng, 3*c)
			wp, bp := randVec(rng, c*c), randVec(rng, c)
			x := randVec(rng, c*b*p)
			store := model.NewStore()
			set := func(path string, v []float64, dims ...int) {
				store.VariableWithValue(path, tensors.FromFlatDataAndDimensions(v, dims...))
			}
			set("/attn/norm/scale", gs, c)
			set("/attn/norm/offset", gb, c)
			set("/attn/qkv/weights", wqkv, 1, 1, c, 3*c)
			set("/attn/qkv/biases", bqkv, 3*c)
			set("/attn/proj/weights", wp, 1, 1, c, c)
			set("/attn/proj/biases", bp, c)
			e, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x *Node) *Node {
				return AttentionBlock(scope.In("attn"), x, heads, groups)
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := e.Call(tensors.FromFlatDataAndDimensions(x, c, b, hh, ww))
			if err != nil {
				t.Fatal(err)
			}
			want := refAttention(x, c, b, p, heads, groups, gs, gb, wqkv, bqkv, wp, bp)
			if d := maxAbsDiff(tensors.MustCopyFlatData[float64](out[0]), want); d > 1e-9 {
				t.Errorf("differs from the reference by %g", d)
			}
		})
	}
}
