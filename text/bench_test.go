package text

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
)

// BenchmarkLookup compares the two ways of picking embedding rows, forward
// and gradient, on a batch of 64 prompts of 16 ids: the one-hot product
// product, and the Gather that [EncoderConfig.Encode] uses (whose gradient
// scatters).
func BenchmarkLookup(b *testing.B) {
	be := backend.MustShared()
	const n, d = 64 * 16, 64
	for _, v := range []int{80, 1000, 10000} {
		for _, kind := range []string{"onehot", "gather"} {
			b.Run(fmt.Sprintf("V=%d/%s", v, kind), func(b *testing.B) {
				exec := MustNewExec(be, func(table, ids *Node) (*Node, *Node) {
					var y *Node
					if kind == "onehot" {
						y = DotGeneral(OneHot(ids, v, dtypes.Float32), []int{1}, nil, table, []int{0}, nil)
					} else {
						y = lookup(table, ids)
					}
					loss := ReduceAllSum(Square(y))
					return loss, Gradient(loss, table)[0]
				})
				table := tensors.FromShape(shapes.Make(dtypes.Float32, v, d))
				ids := make([]int32, n)
				rng := rand.New(rand.NewPCG(1, 2))
				for i := range ids {
					ids[i] = int32(rng.IntN(v))
				}
				idt := tensors.FromValue(ids)
				exec.MustExec(table, idt)
				b.ResetTimer()
				for range b.N {
					exec.MustExec(table, idt)
				}
			})
		}
	}
}
