package unet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
)

// randVec returns n standard normal numbers.
func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// refConv is the "same" convolution written as its definition, in float64,
// on channels-first arrays x [C,B,H,W] and y [O,B,Ho,Wo]:
// y[o,b,i,j] = Σ x[c, b, s·i+dy−p, s·j+dx−p]·w[dy,dx,c,o] over in-range
// positions, with p = (k−1)/2 and output size ⌈H/s⌉ × ⌈W/s⌉.
func refConv(x []float64, b, h, w, c int, k []float64, ks, o, s int) (y []float64, ho, wo int) {
	p := (ks - 1) / 2
	ho, wo = (h+s-1)/s, (w+s-1)/s
	y = make([]float64, b*ho*wo*o)
	for n := range b {
		for i := range ho {
			for j := range wo {
				for dy := range ks {
					for dx := range ks {
						r, q := s*i+dy-p, s*j+dx-p
						if r < 0 || r >= h || q < 0 || q >= w {
							continue
						}
						for ci := range c {
							xv := x[((ci*b+n)*h+r)*w+q]
							for oi := range o {
								y[((oi*b+n)*ho+i)*wo+j] += xv * k[((dy*ks+dx)*c+ci)*o+oi]
							}
						}
					}
				}
			}
		}
	}
	return y, ho, wo
}

// refConvGrad returns the gradients of L = Σ y⊙r with respect to x and the
// kernel, by the chain rule applied to refConv's sum term by term.
func refConvGrad(x []float64, b, h, w, c int, k []float64, ks, o, s int, r []float64) (dx, dk []float64) {
	p := (ks - 1) / 2
	ho, wo := (h+s-1)/s, (w+s-1)/s
	dx = make([]float64, len(x))
	dk = make([]float64, len(k))
	for n := range b {
		for i := range ho {
			for j := range wo {
				for dy := range ks {
					for ddx := range ks {
						rr, q := s*i+dy-p, s*j+ddx-p
						if rr < 0 || rr >= h || q < 0 || q >= w {
							continue
						}
						for ci := range c {
							xi := ((ci*b+n)*h+rr)*w + q
							for oi := range o {
								ki := ((dy*ks+ddx)*c+ci)*o + oi
								g := r[((oi*b+n)*ho+i)*wo+j]
								dx[xi] += g * k[ki]
								dk[ki] += g * x[xi]
							}
						}
					}
				}
			}
		}
	}
	return dx, dk
}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// TestConvFormulations checks every formulation, in float64, against
// refConv and its gradients against refConvGrad, for kernels 1 and 3,
// strides 1 and 2, and non-square images of odd and even sizes.
func TestConvFormulations(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	type tc struct{ b, h, w, c, o, k, s int }
	cases := []tc{
		{2, 5, 4, 3, 4, 3, 1}, {2, 5, 4, 3, 4, 3, 2}, {1, 6, 7, 2, 3, 3, 2},
		{2, 5, 4, 3, 4, 1, 1}, {2, 5, 4, 3, 2, 1, 2}, {3, 1, 1, 2, 2, 3, 1},
	}
	for _, c := range cases {
		x := randVec(rng, c.b*c.h*c.w*c.c)
		k := randVec(rng, c.k*c.k*c.c*c.o)
		want, ho, wo := refConv(x, c.b, c.h, c.w, c.c, k, c.k, c.o, c.s)
		r := randVec(rng, len(want))
		wantDX, wantDK := refConvGrad(x, c.b, c.h, c.w, c.c, k, c.k, c.o, c.s, r)
		for _, kind := range ConvKinds {
			t.Run(fmt.Sprintf("%s/%+v", kind, c), func(t *testing.T) {
				f, err := kind.Func()
				if err != nil {
					t.Fatal(err)
				}
				e, err := NewExec(backend.MustShared(), func(x, k, r *Node) (*Node, *Node, *Node) {
					y := f(x, k, c.s)
					g := Gradient(ReduceAllSum(Mul(y, r)), x, k)
					return y, g[0], g[1]
				})
				if err != nil {
					t.Fatal(err)
				}
				out, err := e.Call(
					tensors.FromFlatDataAndDimensions(x, c.c, c.b, c.h, c.w),
					tensors.FromFlatDataAndDimensions(k, c.k, c.k, c.c, c.o),
					tensors.FromFlatDataAndDimensions(r, c.o, c.b, ho, wo))
				if err != nil {
					t.Fatal(err)
				}
				if dims := out[0].Shape().Dimensions; dims[0] != c.o || dims[1] != c.b || dims[2] != ho || dims[3] != wo {
					t.Fatalf("output shape %v, want [%d %d %d %d]", dims, c.o, c.b, ho, wo)
				}
				for i, want := range [][]float64{want, wantDX, wantDK} {
					got := tensors.MustCopyFlatData[float64](out[i])
					if d := maxAbsDiff(got, want); d > 1e-10 {
						t.Errorf("%s differs from the reference by %g", []string{"y", "dx", "dw"}[i], d)
					}
				}
			})
		}
	}
}

// TestConvGradientFiniteDifference checks the padshift gradient (the
// hand-written one) against central finite differences of the loss the
// graph computes, on a tiny case in float64.
func TestConvGradientFiniteDifference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const b, h, w, c, o = 1, 3, 4, 2, 2
	x := randVec(rng, b*h*w*c)
	k := randVec(rng, 9*c*o)
	r := randVec(rng, b*h*w*o)
	loss, err := NewExec(backend.MustShared(), func(x, k, r *Node) *Node {
		y := ConvPadShift(x, k, 1)
		return ReduceAllSum(Mul(Tanh(y), r))
	})
	if err != nil {
		t.Fatal(err)
	}
	grad, err := NewExec(backend.MustShared(), func(x, k, r *Node) []*Node {
		y := ConvPadShift(x, k, 1)
		return Gradient(ReduceAllSum(Mul(Tanh(y), r)), x, k)
	})
	if err != nil {
		t.Fatal(err)
	}
	at := func(x, k []float64) float64 {
		out := loss.MustCall(tensors.FromFlatDataAndDimensions(x, c, b, h, w),
			tensors.FromFlatDataAndDimensions(k, 3, 3, c, o), tensors.FromFlatDataAndDimensions(r, o, b, h, w))
		return out[0].Value().(float64)
	}
	g := grad.MustCall(tensors.FromFlatDataAndDimensions(x, c, b, h, w),
		tensors.FromFlatDataAndDimensions(k, 3, 3, c, o), tensors.FromFlatDataAndDimensions(r, o, b, h, w))
	for vi, v := range [][]float64{x, k} {
		an := tensors.MustCopyFlatData[float64](g[vi])
		for i := range v {
			const eps = 1e-6
			old := v[i]
			v[i] = old + eps
			up := at(x, k)
			v[i] = old - eps
			down := at(x, k)
			v[i] = old
			fd := (up - down) / (2 * eps)
			if math.Abs(fd-an[i]) > 1e-6*(1+math.Abs(fd)) {
				t.Errorf("input %d element %d: gradient %g, finite difference %g", vi, i, an[i], fd)
			}
		}
	}
}

// TestConvKindFor checks the override order and the backend default.
func TestConvKindFor(t *testing.T) {
	b := backend.MustShared()
	t.Setenv(ConvEnvVar, "")
	old := ConvOverride
	defer func() { ConvOverride = old }()
	ConvOverride = ""
	if got := ConvKindFor(b); isGoBackend(b) && got != ConvKindPadShift || !isGoBackend(b) && got != ConvKindNative {
		t.Errorf("default on %s = %s", b.Name(), got)
	}
	t.Setenv(ConvEnvVar, "Shifted")
	if got := ConvKindFor(b); got != ConvKindShifted {
		t.Errorf("with %s=Shifted got %s", ConvEnvVar, got)
	}
	ConvOverride = ConvKindIm2Col
	if got := ConvKindFor(b); got != ConvKindIm2Col {
		t.Errorf("with ConvOverride=im2col got %s", got)
	}
	if _, err := ParseConvKind("winograd"); err == nil {
		t.Error("ParseConvKind accepted an unknown name")
	}
}

// TestStreamsFor checks the override order and that the result divides the
// batch.
func TestStreamsFor(t *testing.T) {
	b := backend.MustShared()
	old := StreamsOverride
	defer func() { StreamsOverride = old }()
	StreamsOverride = 0
	t.Setenv(StreamsEnvVar, "")
	if got := StreamsFor(b, 1); got != 1 {
		t.Errorf("batch 1: %d streams", got)
	}
	for _, tc := range []struct{ env, override, batch, want int }{
		{0, 3, 64, 2}, // 3 does not divide 64: lowered to 2
		{0, 4, 64, 4}, // override
		{0, 8, 6, 6},  // at most one example per stream
		{5, 0, 20, 5}, // from the environment
		{3, 2, 12, 2}, // the override wins over the environment
		{0, 1, 64, 1}, // one stream
		{7, 0, 14, 7}, // environment, divides
		{7, 0, 15, 5}, // environment, lowered to a divisor
	} {
		StreamsOverride = tc.override
		env := ""
		if tc.env > 0 {
			env = fmt.Sprint(tc.env)
		}
		t.Setenv(StreamsEnvVar, env)
		if got := StreamsFor(b, tc.batch); got != tc.want {
			t.Errorf("%+v: %d streams", tc, got)
		}
	}
}
