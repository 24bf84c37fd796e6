// Package tensorutil copies host tensors: slicing rows along the first
// (batch) axis, reading float tensors as float64 and making tensors from
// float64 values.
package tensorutil

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// SliceFirstAxis returns rows [start, start+n) of t (a copy).
func SliceFirstAxis(t *tensors.Tensor, start, n int) (*tensors.Tensor, error) {
	sh := t.Shape()
	if sh.Rank() == 0 || start < 0 || n < 0 || start+n > sh.Dimensions[0] {
		return nil, fmt.Errorf("tensorutil: cannot take rows [%d, %d) of a tensor shaped %s", start, start+n, sh)
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

// Float64s copies a float32, float64 or int32 tensor to []float64.
func Float64s(t *tensors.Tensor) ([]float64, error) {
	switch t.DType() {
	case dtypes.Float32:
		return widen[float32](t)
	case dtypes.Float64:
		return tensors.CopyFlatData[float64](t)
	case dtypes.Int32:
		return widen[int32](t)
	}
	return nil, fmt.Errorf("tensorutil: expected a float32, float64 or int32 tensor, got %s", t.Shape())
}

// widen copies a tensor of element type T to []float64.
func widen[T float32 | int32](t *tensors.Tensor) ([]float64, error) {
	v, err := tensors.CopyFlatData[T](t)
	if err != nil {
		return nil, err
	}
	r := make([]float64, len(v))
	for i, x := range v {
		r[i] = float64(x)
	}
	return r, nil
}

// FromFloat64s makes a tensor of dtype dt (Float32 or Float64) shaped dims
// from float64 values (copied).
func FromFloat64s(v []float64, dt dtypes.DType, dims ...int) (*tensors.Tensor, error) {
	switch dt {
	case dtypes.Float64:
		return tensors.FromFlatDataAndDimensions(append([]float64(nil), v...), dims...), nil
	case dtypes.Float32:
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		return tensors.FromFlatDataAndDimensions(f, dims...), nil
	}
	return nil, fmt.Errorf("tensorutil: host values convert to Float32 or Float64 tensors, not %s", dt)
}
