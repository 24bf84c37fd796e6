package diffusion

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestVLBGaussianClosedForm computes the bound of N(μ, σ²) data under the
// optimal denoiser with p_θ's variance β̃ and compares every KL term and the
// prior term with their closed forms:
//
//	E[L_{t−1}] = c₁² Var(x₀ | x_t) / (2 β̃_t),  Var(x₀ | x_t) = σ²(1−ᾱ_t)/(ᾱ_t σ² + 1 − ᾱ_t),
//	E[L_T]     = ½ (ᾱ_T (μ² + σ²) + (1 − ᾱ_T) − 1 − ln(1 − ᾱ_T)),
//
// (c₁ = β_t √ᾱ_{t−1}/(1−ᾱ_t)), in bits, within Monte-Carlo error: each
// example's KL is the expectation times a χ²₁ variable (standard deviation
// √2 times its mean).
func TestVLBGaussianClosedForm(t *testing.T) {
	const mu, std = 0.3, 0.5
	const n = 2000
	s := mustSchedule(t, "linear", 100)
	p := mustProcess(t, s)
	r := newRef(s)
	rng := rand.New(rand.NewPCG(4, 2))
	data := make([]float64, n)
	var m2 float64
	for i := range data {
		data[i] = mu + std*rng.NormFloat64()
		m2 += data[i] * data[i] / n
	}
	res, err := VLB(tb(), model.NewStore(), p.Model(GaussianOptimalDenoiser(s, mu, std)),
		tensors.FromFlatDataAndDimensions(data, n, 1), VLBOptions{Seed: 3, Variance: FixedSmall})
	if err != nil {
		t.Fatal(err)
	}
	var sumWant, sumGot, sumVar float64
	for i := 1; i < s.T; i++ {
		a := r.abar[i]
		_, postVar := r.posterior(i, 0, 0)
		c1 := r.beta[i] * math.Sqrt(r.abarPrev[i]) / (1 - a)
		want := c1 * c1 * (std * std * (1 - a) / (a*std*std + 1 - a)) / (2 * postVar) / math.Ln2
		tol := 5 * want * math.Sqrt(2.0/n)
		if math.Abs(res.Terms[i]-want) > tol {
			t.Errorf("L_%d = %.5g bits, closed form %.5g ± %.2g", i, res.Terms[i], want, tol)
		}
		sumWant += want
		sumGot += res.Terms[i]
		sumVar += want * want * 2 / n
	}
	if tol := 4 * math.Sqrt(sumVar); math.Abs(sumGot-sumWant) > tol {
		t.Errorf("Σ KL terms = %.5g bits, closed form %.5g ± %.2g", sumGot, sumWant, tol)
	}
	aT := r.abar[s.T-1]
	// The prior term is deterministic given the data: use the sample's second moment.
	prior := 0.5 * (aT*m2 + (1 - aT) - 1 - math.Log(1-aT)) / math.Ln2
	if !close(res.Prior, prior, 1e-9) {
		t.Errorf("prior term %.6g bits, closed form %.6g", res.Prior, prior)
	}
	t.Logf("Σ KL = %.4f bits (closed form %.4f), prior %.2e bits, total %.4f bits", sumGot, sumWant, res.Prior, res.Total)
	// Totals are consistent.
	var total float64
	for _, v := range res.Terms {
		total += v
	}
	if !close(res.Total, total+res.Prior, 1e-12) {
		t.Errorf("Total %g ≠ Σ terms + prior %g", res.Total, total+res.Prior)
	}
	var meanPer float64
	for _, v := range res.PerExample {
		meanPer += v / n
	}
	if !close(meanPer, res.Total, 1e-9) {
		t.Errorf("mean of per-example totals %g ≠ Total %g", meanPer, res.Total)
	}
}
