package nb

import (
	"math"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/unet"
)

// TestSinusoidalRows checks the embedding against the formula of math/README
// §12 evaluated in float64.
func TestSinusoidalRows(t *testing.T) {
	const dim, T, every = 8, 100, 7
	rows := SinusoidalRows(dim, T, every)
	if len(rows) != dim || len(rows[0]) != 15 { // t = 0, 7, …, 98
		t.Fatalf("%d rows of %d, want %d of 15", len(rows), len(rows[0]), dim)
	}
	for k := range dim / 2 {
		w := math.Pow(10000, -float64(k)/float64(dim/2))
		for j := range rows[k] {
			tt := float64(j * every)
			if d := math.Abs(rows[k][j] - math.Sin(tt*w)); d > 1e-4 {
				t.Errorf("sin row %d at t = %g: %g, want %g", k, tt, rows[k][j], math.Sin(tt*w))
			}
			if d := math.Abs(rows[k+dim/2][j] - math.Cos(tt*w)); d > 1e-4 {
				t.Errorf("cos row %d at t = %g: %g, want %g", k, tt, rows[k+dim/2][j], math.Cos(tt*w))
			}
		}
	}
}

// TestCheckSummary: the small UNet's summary agrees with the committed
// 1,000-step checkpoint; a summary that miscounts one block, or that lacks
// the middle attention, does not.
func TestCheckSummary(t *testing.T) {
	t.Chdir("../../notebooks")
	c, err := unet.UNetConfigByName("small")
	if err != nil {
		t.Fatal(err)
	}
	p := OpenPretrained("mnist-unet-small-1k.ckpt")
	s := c.Summary()
	if n, err := CheckSummary(s, p.Store); err != nil || n != 195585 {
		t.Errorf("CheckSummary = %d, %v; want 195585 (the small UNet's documented count)", n, err)
	}
	bad := append(unet.Summary(nil), s...)
	bad[5].Params++
	if _, err := CheckSummary(bad, p.Store); err == nil || !strings.Contains(err.Error(), bad[5].Scope) {
		t.Errorf("a miscounted %s: %v", bad[5].Scope, err)
	}
	c.NoMiddleAttention = true
	if _, err := CheckSummary(c.Summary(), p.Store); err == nil || !strings.Contains(err.Error(), "middle/attn") {
		t.Errorf("a summary without the middle attention: %v", err)
	}
}

// TestSummaryPanels: every block is drawn in the cost panels, and the
// blocks with a feature map in the U, at their sides.
func TestSummaryPanels(t *testing.T) {
	c, err := unet.UNetConfigByName("small")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Summary()
	ps := SummaryPanels(s)
	if len(ps) != 3 {
		t.Fatalf("%d panels", len(ps))
	}
	var sum float64
	for _, y := range ps[1].Scatter[0].Y {
		sum += y
	}
	if want := float64(c.ForwardFLOPs()) / 1e6; len(ps[1].Scatter[0].Y) != len(s) || math.Abs(sum-want) > 1e-9*want {
		t.Errorf("FLOPs panel: %d points summing to %g, want %d and %g", len(ps[1].Scatter[0].Y), sum, len(s), want)
	}
	n, maps := 0, 0
	for _, g := range ps[0].Scatter {
		n += len(g.X)
		for i, x := range g.X {
			if r := s[int(x)-1]; float64(r.Resolution) != g.Y[i] || string(r.Kind) != g.Name {
				t.Errorf("U panel: %s at x = %g drawn at side %g, the row is %s at %d", g.Name, x, g.Y[i], r.Kind, r.Resolution)
			}
		}
	}
	for _, r := range s {
		if r.Resolution > 0 {
			maps++
		}
	}
	if n != maps || n != len(s)-2 { // all but time_1 and time_2
		t.Errorf("U panel: %d points, want %d", n, maps)
	}
}

// TestMeasureSteps: the losses are those of an uninterrupted run of the
// same configuration, and the figures are positive.
func TestMeasureSteps(t *testing.T) {
	c := experiment.Default2D("moons")
	c.BatchSize, c.MLP.Hidden, c.MLP.Blocks, c.Timesteps = 16, 16, 1, 50
	cost := MeasureSteps("tiny", c, 2)
	if len(cost.Losses) != 3 || !(cost.Seconds > 0) || !(cost.PeakMiB > 0) || !(cost.EstimateMiB > 0) || cost.Name != "tiny" {
		t.Fatalf("%+v", cost)
	}
	tr := Must(c.NewTrainer(Backend()))
	Must(0, tr.Run(Must(c.TrainingData(Backend(), nil)), diffusion.RunOptions{Steps: 3, BatchSize: c.BatchSize}))
	for i, l := range tr.Losses() {
		if l != cost.Losses[i] {
			t.Errorf("loss %d: %g, an uninterrupted run %g", i+1, cost.Losses[i], l)
		}
	}
	var sb strings.Builder
	StepCostTable(&sb, []StepCost{cost, {Name: "twice", Seconds: 2 * cost.Seconds, PeakMiB: 3 * cost.PeakMiB}})
	if lines := strings.Split(strings.TrimSpace(sb.String()), "\n"); len(lines) != 3 || !strings.Contains(lines[2], " 2.00 ") || !strings.Contains(lines[2], " 3.00 ") {
		t.Errorf("table:\n%s", sb.String())
	}
	defer func() {
		if recover() == nil {
			t.Errorf("k = 0 accepted")
		}
	}()
	MeasureSteps("none", c, 0)
}
