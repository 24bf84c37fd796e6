package nb

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"

	"github.com/godiffusion/diffusion-models/tutorial/plots"
)

// Ablation is one form of the "small" UNet that
// notebooks/pretrained/unet-ablations.sh trains: Name is the prefix of its
// reports, Label how tables and legends call it.
type Ablation struct{ Name, Label string }

// Ablations are the forms of unet-ablations.sh, the unchanged UNet first.
var Ablations = []Ablation{
	{"base", "sinusoidal t, attention"},
	{"linear", "linear t/T"},
	{"noattn", "no attention"},
}

// AblationRun is one run of unet-ablations.sh: the figures cmd/eval --json
// printed for it and its loss history.
type AblationRun struct {
	// Variant is the Name of its [Ablation]; Seed the training seed.
	Variant string
	Seed    int64
	// Figures are cmd/eval's figures ("samples_fd", "samples_kid", …).
	Figures Figures
	// Losses is the loss of every step (loss.csv).
	Losses []float64
}

// FD is the Fréchet distance of the run's samples.
func (r AblationRun) FD() float64 { return r.Figures.Get("samples_fd") }

// FinalLoss is the mean loss of the last k steps.
func (r AblationRun) FinalLoss(k int) float64 { return Mean(r.Losses[max(0, len(r.Losses)-k):]) }

// ReadAblations reads the reports unet-ablations.sh keeps in dir for each
// of [Ablations] and every seed: VARIANT-sSEED.json, .loss.csv and
// .train.log (which must say that the run finished), sorted by variant (in
// the order of Ablations), then seed.
func ReadAblations(dir string) ([]AblationRun, error) {
	var out []AblationRun
	for _, a := range Ablations {
		reports, err := readSeedReports(dir, a.Name)
		if err != nil {
			return nil, err
		}
		for _, rep := range reports {
			r := AblationRun{Variant: a.Name, Seed: rep.seed, Figures: rep.figures}
			if r.Losses, err = ReadLossCSV(rep.base + ".loss.csv"); err != nil {
				return nil, err
			}
			if _, _, err = trainTime(rep.base + ".train.log"); err != nil { // the run finished
				return nil, err
			}
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nb: no unet-ablations.sh reports (VARIANT-sSEED.json) in %s", dir)
	}
	return out, nil
}

// Figures are the figures of one line of cmd/eval --json ("samples_fd",
// "samples_kid", "bits_per_dim", …).
type Figures map[string]any

// ReadFigures reads a file holding one line of cmd/eval --json.
func ReadFigures(path string) (Figures, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f Figures
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("nb: %s: %w", path, err)
	}
	return f, nil
}

// Get returns the named figure, NaN when it is absent or not a number.
func (f Figures) Get(name string) float64 {
	if v, ok := f[name].(float64); ok {
		return v
	}
	return math.NaN()
}

// ReadLossCSV reads the loss.csv cmd/train writes: a "step,loss" header,
// then one row per step from 1.
func ReadLossCSV(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() || sc.Text() != "step,loss" {
		return nil, fmt.Errorf("nb: %s: want the header step,loss", path)
	}
	var out []float64
	for sc.Scan() {
		step, v, ok := strings.Cut(sc.Text(), ",")
		x, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || step != strconv.Itoa(len(out)+1) {
			return nil, fmt.Errorf("nb: %s: line %d: want %d,LOSS, got %q", path, len(out)+2, len(out)+1, sc.Text())
		}
		out = append(out, x)
	}
	return out, sc.Err()
}

// runsOf returns the runs of variant, in seed order.
func runsOf(runs []AblationRun, variant string) []AblationRun {
	var out []AblationRun
	for _, r := range runs {
		if r.Variant == variant {
			out = append(out, r)
		}
	}
	return out
}

// AblationTable prints, per variant, the number of seeds, the FD of the
// samples (mean ± sd, then seed by seed), its difference from the base
// UNet's on the same seed (mean ± sd over the seeds both have) and the mean
// loss of the last lastK steps (mean ± sd over the seeds). The training
// times are left out: the runs shared the machine with other work.
func AblationTable(w io.Writer, runs []AblationRun, lastK int) {
	base := map[int64]float64{}
	for _, r := range runsOf(runs, Ablations[0].Name) {
		base[r.Seed] = r.FD()
	}
	fmt.Fprintf(w, "%-24s %5s  %-13s  %-20s  %-17s  %s\n", "", "seeds", "FD", "FD of seed 0, 1, …", "FD − first row's", fmt.Sprintf("loss, last %d steps", lastK))
	for _, a := range Ablations {
		rs := runsOf(runs, a.Name)
		if len(rs) == 0 {
			continue
		}
		var fd, diff, loss []float64
		var each []string
		for _, r := range rs {
			fd = append(fd, r.FD())
			each = append(each, fmt.Sprintf("%.1f", r.FD()))
			if b, ok := base[r.Seed]; ok {
				diff = append(diff, r.FD()-b)
			}
			loss = append(loss, r.FinalLoss(lastK))
		}
		d := "—"
		if a.Name != Ablations[0].Name && len(diff) > 0 {
			m, sd := MeanSD(diff)
			d = fmt.Sprintf("%+.1f ± %.1f", m, sd)
		}
		fmt.Fprintf(w, "%-24s %5d  %-13s  %-20s  %-17s  %s\n", a.Label, len(rs), PlusMinus("%.1f", fd),
			strings.Join(each, ", "), d, PlusMinus("%.4f", loss))
	}
}

// AblationPanels are two panels of the runs: the training loss, its moving
// average over k steps averaged over the seeds of each variant, from step
// from on; and the FD of each run's samples against its seed, one colour per
// variant.
func AblationPanels(runs []AblationRun, k, from int) (loss, fd plots.Panel) {
	loss.Opts = plots.Options{XLabel: "step", YLabel: fmt.Sprintf("loss (moving average of %d steps, mean of the seeds)", k), Legend: plots.LegendBelow}
	loss.Title = "training loss"
	fd.Opts = plots.Options{XLabel: "seed", YLabel: "FD of 1,000 samples (lower is better)", Legend: plots.LegendBelow, PointRadius: 4, PointAlpha: 0.9}
	fd.Title = "sample quality"
	for _, a := range Ablations {
		rs := runsOf(runs, a.Name)
		if len(rs) == 0 {
			continue
		}
		n := len(rs[0].Losses)
		for _, r := range rs {
			n = min(n, len(r.Losses))
		}
		var x, y []float64
		avg := make([][]float64, len(rs))
		for i, r := range rs {
			avg[i] = MovingAverage(r.Losses[:n], k)
		}
		for s := from; s < n; s++ {
			var m float64
			for i := range rs {
				m += avg[i][s]
			}
			x, y = append(x, float64(s+1)), append(y, m/float64(len(rs)))
		}
		loss.Lines = append(loss.Lines, plots.Series{Name: a.Label, X: x, Y: y})
		var sx, sy []float64
		for _, r := range rs {
			sx, sy = append(sx, float64(r.Seed)), append(sy, r.FD())
		}
		fd.Scatter = append(fd.Scatter, plots.Series{Name: a.Label, X: sx, Y: sy})
	}
	return loss, fd
}

// ShowMarkdown renders Markdown (a table, say) under the cell; outside GoNB
// it prints it.
func ShowMarkdown(md string) {
	if gonbui.IsNotebook {
		gonbui.DisplayMarkdown(md)
		gonbui.Sync()
		return
	}
	fmt.Print(md)
}
