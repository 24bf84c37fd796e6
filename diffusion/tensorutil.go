package diffusion

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// SliceFirstAxis returns rows [start, start+n) of t (a copy).
func SliceFirstAxis(t *tensors.Tensor, start, n int) (*tensors.Tensor, error) {
	sh := t.Shape()
	if sh.Rank() == 0 || start < 0 || n < 0 || start+n > sh.Dimensions[0] {
		return nil, fmt.Errorf("diffusion: cannot take rows [%d, %d) of a tensor shaped %s", start, start+n, sh)
	}
	if start == 0 && n == sh.Dimensions[0] {
		return t, nil
	}
	dims := append([]int{n}, sh.Dimensions[1:]...)
	out := tensors.FromShape(shapes.Make(sh.DType, dims...))
	rowBytes := int(sh.Memory()) / sh.Dimensions[0]
	var err error
	cerr := t.ConstBytes(func(src []byte) {
		err = out.MutableBytes(func(dst []byte) {
			copy(dst, src[start*rowBytes:(start+n)*rowBytes])
		})
	})
	if cerr != nil {
		return nil, cerr
	}
	return out, err
}

// ConcatFirstAxis concatenates tensors of equal trailing shape along the first axis.
func ConcatFirstAxis(ts []*tensors.Tensor) (*tensors.Tensor, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("diffusion: nothing to concatenate")
	}
	first := ts[0].Shape()
	rows := 0
	for _, t := range ts {
		sh := t.Shape()
		if sh.DType != first.DType || sh.Rank() != first.Rank() || sh.Rank() == 0 {
			return nil, fmt.Errorf("diffusion: cannot concatenate %s with %s", first, sh)
		}
		for i := 1; i < sh.Rank(); i++ {
			if sh.Dimensions[i] != first.Dimensions[i] {
				return nil, fmt.Errorf("diffusion: cannot concatenate %s with %s", first, sh)
			}
		}
		rows += sh.Dimensions[0]
	}
	dims := append([]int{rows}, first.Dimensions[1:]...)
	out := tensors.FromShape(shapes.Make(first.DType, dims...))
	var err error
	merr := out.MutableBytes(func(dst []byte) {
		off := 0
		for _, t := range ts {
			if e := t.ConstBytes(func(src []byte) { off += copy(dst[off:], src) }); e != nil {
				err = e
				return
			}
		}
	})
	if merr != nil {
		return nil, merr
	}
	return out, err
}
