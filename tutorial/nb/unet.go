package nb

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	gmodel "github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
	"github.com/godiffusion/diffusion-models/unet"
)

// SummaryPanels draws a UNet's [unet.Summary] in three panels sharing the
// horizontal axis, the blocks in execution order numbered as the rows of
// s.Markdown() (from 1): the side of each block's output feature map, one
// colour per kind of block, joined by a line (the "U"); the forward FLOPs of
// each block (millions per image); and the activations it keeps for the
// backward pass (KiB per image). The time and class embeddings, which have
// no feature map, appear in the last two panels only.
func SummaryPanels(s unet.Summary) []plots.Panel {
	const xl = "block (row of the table)"
	u := plots.Panel{Title: "the U: output side of each block", Opts: plots.Options{XLabel: xl, YLabel: "side (pixels)", PointRadius: 3.5, PointAlpha: 0.9, Legend: plots.LegendBelow}}
	flops := plots.Panel{Title: "forward FLOPs", Opts: plots.Options{XLabel: xl, YLabel: "MFLOPs per image", PointRadius: 3, PointAlpha: 0.9}}
	act := plots.Panel{Title: "activations kept for backward", Opts: plots.Options{XLabel: xl, YLabel: "KiB per image", PointRadius: 3, PointAlpha: 0.9}}
	var path plots.Series
	byKind := map[unet.BlockKind]int{}
	var fx, fy, ax, ay []float64
	for i, r := range s {
		x := float64(i + 1)
		fx, fy = append(fx, x), append(fy, float64(r.FLOPs)/1e6)
		ax, ay = append(ax, x), append(ay, float64(r.ActivationBytes)/1024)
		if r.Resolution == 0 {
			continue
		}
		path.X, path.Y = append(path.X, x), append(path.Y, float64(r.Resolution))
		k, ok := byKind[r.Kind]
		if !ok {
			k = len(u.Scatter)
			byKind[r.Kind] = k
			u.Scatter = append(u.Scatter, plots.Series{Name: string(r.Kind)})
		}
		u.Scatter[k].X, u.Scatter[k].Y = append(u.Scatter[k].X, x), append(u.Scatter[k].Y, float64(r.Resolution))
	}
	u.Lines = []plots.Series{path}
	flops.Scatter = []plots.Series{{X: fx, Y: fy}}
	flops.Lines = []plots.Series{{X: fx, Y: fy}}
	act.Scatter = []plots.Series{{X: ax, Y: ay}}
	act.Lines = []plots.Series{{X: ax, Y: ay}}
	panels := []plots.Panel{u, flops, act}
	plots.ShareAxes(panels, true, false)
	return panels
}

// ReceptivePanel draws the receptive field of each block's output (pixels
// of the input, one side) against the block's row in the Summary, one line
// per named summary, with the image side as a dashed line: past it a
// block's window covers the whole image. Blocks after an attention block
// (Global) see the whole image whatever their convolutions, and are drawn
// at the image side.
func ReceptivePanel(names []string, ss []unet.Summary, imageSide int) plots.Panel {
	p := plots.Panel{Title: "receptive field of each block's output", Opts: plots.Options{XLabel: "block (row of the table)", YLabel: "receptive field (pixels, one side)", Legend: plots.LegendBelow}}
	n := 0
	for i, s := range ss {
		var line plots.Series
		line.Name = names[i]
		for j, r := range s {
			if r.Resolution == 0 {
				continue
			}
			line.X, line.Y = append(line.X, float64(j+1)), append(line.Y, float64(r.ReceptiveField))
		}
		n = max(n, len(s))
		p.Lines = append(p.Lines, line)
	}
	side := float64(imageSide)
	p.Lines = append(p.Lines, plots.Series{Name: fmt.Sprintf("image side (%d)", imageSide), X: []float64{1, float64(n)}, Y: []float64{side, side}})
	return p
}

// SinusoidalRows evaluates unet.SinusoidalEmbedding (dimension dim) at the
// steps 0, every, 2·every, … below T and returns it one row per component
// (dim rows, one column per step), as plots.HeatmapPNG draws it.
func SinusoidalRows(dim, T, every int) [][]float64 {
	var ts []int32
	for t := 0; t < T; t += every {
		ts = append(ts, int32(t))
	}
	emb := Must(graph.CallOnce(Backend(), func(t *graph.Node) *graph.Node {
		return unet.SinusoidalEmbedding(t, dim, dtypes.Float32)
	}, ts))
	v := emb.Value().([][]float32)
	rows := make([][]float64, dim)
	for k := range rows {
		rows[k] = make([]float64, len(ts))
		for j := range ts {
			rows[k][j] = float64(v[j][k])
		}
	}
	return rows
}

// CheckSummary compares the parameters of every row of s with the
// variables of a trained network in store (a checkpoint's weights, under
// the diffusion model's scope "/model"): the sizes of the variables under
// the row's scope must add up to the row's Params, and every variable must
// belong to a row. It returns the total number of parameters of the
// variables, or an error naming the first row or variable that disagrees.
func CheckSummary(s unet.Summary, store *gmodel.Store) (int, error) {
	got := map[string]int{}
	total := 0
	for v := range store.IterVariables() {
		p := strings.TrimPrefix(v.Scope(), "/")
		p, ok := strings.CutPrefix(p, diffusion.ModelScope+"/")
		if !ok && p != diffusion.ModelScope {
			continue // not the network's (an EMA or optimizer state)
		}
		if !v.Trainable {
			continue
		}
		n := v.Shape().Size()
		total += n
		row := slices.IndexFunc(s, func(r unet.BlockSummary) bool { return p == r.Scope || strings.HasPrefix(p, r.Scope+"/") })
		if row < 0 {
			return 0, fmt.Errorf("nb: variable %s (%s) belongs to no row of the summary", v.Path(), v.Shape())
		}
		got[s[row].Scope] += n
	}
	for _, r := range s {
		if got[r.Scope] != r.Params {
			return 0, fmt.Errorf("nb: block %s: the summary counts %d parameters, the checkpoint holds %d", r.Scope, r.Params, got[r.Scope])
		}
	}
	return total, nil
}
