package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godiffusion/diffusion-models/internal/cmdtest"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// checkpoints holds the small checkpoints of this file's tests, trained once.
type checkpoints struct {
	ddpm50   string // DDPM, linear schedule scaled to T = 50
	ddpm1000 string // DDPM, linear schedule, T = 1000 (the VP SDE's discretisation)
	cosine   string // DDPM, cosine schedule, T = 50
	vp, ve   string // score models
	subvp    string
	cond     string // class-conditional gaussians8 DDPM, T = 1000, p_uncond 0.1
	condVE   string // class-conditional moons score model, VE SDE
}

func trainCheckpoints(t *testing.T) checkpoints {
	t.Helper()
	var c checkpoints
	c.ddpm50 = t.TempDir()
	trainTiny(t, c.ddpm50)
	c.ddpm1000 = t.TempDir()
	trainConfig(t, experiment.Default2D("gaussians8"), c.ddpm1000)
	cos := experiment.Default2D("gaussians8")
	cos.Schedule, cos.Timesteps = "cosine", 50
	c.cosine = t.TempDir()
	trainConfig(t, cos, c.cosine)
	c.vp, c.ve, c.subvp = trainScore(t, "vp"), trainScore(t, "ve"), trainScore(t, "subvp")
	cc := experiment.Default2D("gaussians8")
	cc.ClassCond, cc.PUncond = true, 0.1
	c.cond = t.TempDir()
	trainConfig(t, cc, c.cond)
	cv := experiment.Default2D("moons").WithScore("ve")
	cv.ClassCond, cv.PUncond = true, 0.1
	c.condVE = t.TempDir()
	trainConfig(t, cv, c.condVE)
	return c
}

// sampleJSON runs sample with --json and returns the text output and the
// JSON object of its last line.
func sampleJSON(t *testing.T, args ...string) (string, map[string]any) {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(append(args, "--json", "--quiet"), &out, &errb); err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errb.String())
	}
	return out.String(), cmdtest.LastJSON(t, out.String())
}

// TestSamplers runs every sampler on the checkpoints it can sample, 2-D
// DDPM and score alike, and checks that the samples are finite, that the
// CSV holds them all, and that the number of model evaluations is the
// sampler's: ddpm, ddim and dpm++2m one a step, dpm++2s and edm
// 2·steps − 1, em one a step, pc steps·(1 + corrector), ode steps × (1, 2,
// 4) for euler, heun, rk4, langevin levels × steps; total_nfe is nfe times
// the number of batches.
func TestSamplers(t *testing.T) {
	c := trainCheckpoints(t)
	type tc struct {
		name, dir string
		args      []string
		nfe       int // −1: any positive number (rk45)
	}
	var cases []tc
	for _, ck := range []struct{ kind, dir string }{{"ddpm50", c.ddpm50}, {"cosine", c.cosine}, {"vp", c.vp}, {"ve", c.ve}, {"subvp", c.subvp}} {
		cases = append(cases,
			tc{"ddpm/" + ck.kind, ck.dir, []string{"--sampler", "ddpm", "--sample-steps", "9"}, 9},
			tc{"ddim-eta/" + ck.kind, ck.dir, []string{"--sampler", "ddim", "--sample-steps", "6", "--eta", "1"}, 6})
		if ck.kind == "cosine" {
			// The fast samplers take the step of a discrete process nearest
			// to each level, never twice: on the cosine schedule with T = 50
			// they get fewer levels than asked (tested in diffusion).
			continue
		}
		cases = append(cases,
			tc{"ddim/" + ck.kind, ck.dir, []string{"--sampler", "ddim", "--sample-steps", "7"}, 7},
			tc{"dpm++2m/" + ck.kind, ck.dir, []string{"--sampler", "dpm++2m", "--sample-steps", "8"}, 8},
			tc{"dpm++2m-linspace/" + ck.kind, ck.dir, []string{"--sampler", "dpm++2m", "--sample-steps", "5", "--spacing", "linspace"}, 5},
			tc{"dpm++2s/" + ck.kind, ck.dir, []string{"--sampler", "dpm++2s", "--sample-steps", "3"}, 5},
			tc{"edm/" + ck.kind, ck.dir, []string{"--sampler", "edm", "--sample-steps", "4"}, 7},
			tc{"edm-rho/" + ck.kind, ck.dir, []string{"--sampler", "edm", "--sample-steps", "5", "--rho", "3"}, 9},
		)
	}
	cases = append(cases,
		tc{"ddpm/default", c.ddpm50, nil, 50},
		tc{"ddim/default", c.ddpm50, []string{"--sampler", "ddim"}, 50},
		tc{"dpm++2m/default", c.vp, []string{"--sampler", "dpm++2m"}, 20},
		tc{"dpm++2s/default", c.vp, []string{"--sampler", "dpm++2s"}, 19},
		tc{"edm/default", c.ve, []string{"--sampler", "edm"}, 39},
		tc{"em/ddpm1000", c.ddpm1000, []string{"--sampler", "em", "--sample-steps", "7"}, 7},
		tc{"pc/ddpm1000", c.ddpm1000, []string{"--sampler", "pc", "--sample-steps", "5"}, 10},
		tc{"ode/ddpm1000", c.ddpm1000, []string{"--sampler", "ode", "--sample-steps", "5"}, 10},
		tc{"em/vp", c.vp, []string{"--sampler", "em", "--sample-steps", "6"}, 6},
		tc{"pc/subvp", c.subvp, []string{"--sampler", "pc", "--sample-steps", "4", "--corrector", "2"}, 12},
		tc{"ode-rk4/ve", c.ve, []string{"--sampler", "ode", "--solver", "rk4", "--sample-steps", "2"}, 8},
		tc{"ode-rk45/vp", c.vp, []string{"--sampler", "ode", "--solver", "rk45", "--rtol", "1e-3", "--atol", "1e-3"}, -1},
		tc{"langevin/ve", c.ve, []string{"--sampler", "langevin", "--levels", "3", "--langevin-steps", "2"}, 6},
		tc{"em/cond-ddpm1000", c.cond, []string{"--sampler", "em", "--sample-steps", "4", "--class", "2"}, 4},
		tc{"dpm++2m/cond-guided", c.cond, []string{"--sampler", "dpm++2m", "--sample-steps", "6", "--guidance", "3"}, 6},
		tc{"langevin/cond-ve", c.condVE, []string{"--sampler", "langevin", "--levels", "2", "--langevin-steps", "3", "--guidance", "2"}, 6},
		tc{"edm/cond-ve", c.condVE, []string{"--sampler", "edm", "--sample-steps", "3", "--class", "1"}, 5},
	)
	const n = 50
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "s")
			_, obj := sampleJSON(t, append([]string{"--model-path", c.dir, "--num-samples", strconv.Itoa(n), "--batch-size", "20", "--out", base}, c.args...)...)
			pts := readCSV(t, base)
			if len(pts) != n {
				t.Errorf("CSV holds %d samples, want %d", len(pts), n)
			}
			for _, p := range pts {
				if math.IsNaN(p[0]+p[1]) || math.IsInf(p[0]+p[1], 0) {
					t.Fatalf("non-finite sample %v", p)
				}
			}
			nfe, total := int(cmdtest.Num(t, obj, "nfe")), int(cmdtest.Num(t, obj, "total_nfe"))
			if (c.nfe < 0 && nfe <= 0) || (c.nfe >= 0 && nfe != c.nfe) {
				t.Errorf("%d model evaluations, want %d", nfe, c.nfe)
			}
			if c.nfe >= 0 && total != 3*c.nfe { // batches of 20, 20 and 10
				t.Errorf("total_nfe %d, want 3 batches × %d", total, c.nfe)
			}
			if got, want := obj["sampler"], c.args; len(want) > 1 && got != want[1] {
				t.Errorf("sampler %v, want %s", got, want[1])
			}
		})
	}
}

// TestSamplerRefusals: samplers the checkpoint cannot use, flags the sampler
// does not use, bad values. Each exits with an error naming the problem and
// writes nothing.
func TestSamplerRefusals(t *testing.T) {
	c := trainCheckpoints(t)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--model-path", c.cosine, "--sampler", "em"}, []string{"DDPM", "cosine schedule", "T = 1000", "--sampler em"}},
		{[]string{"--model-path", c.ddpm50, "--sampler", "ode"}, []string{"DDPM", "T = 50", "--sampler ode"}},
		{[]string{"--model-path", c.vp, "--sampler", "langevin"}, []string{"langevin", "--sde ve", "vp"}},
		{[]string{"--model-path", c.ddpm1000, "--sampler", "langevin"}, []string{"langevin", "--sde ve", "DDPM"}},
		{[]string{"--model-path", c.ddpm50, "--sampler", "ddim", "--rho", "5"}, []string{"--rho", "edm", "ddim"}},
		{[]string{"--model-path", c.ddpm50, "--sampler", "edm", "--spacing", "lambda"}, []string{"--spacing", "edm"}},
		{[]string{"--model-path", c.ddpm50, "--sampler", "edm", "--eta", "0.5"}, []string{"--eta", "ddim", "edm"}},
		{[]string{"--model-path", c.ddpm50, "--sampler", "dpm++2m", "--variance", "large"}, []string{"--variance", "ddpm", "dpm++2m"}},
		{[]string{"--model-path", c.ddpm50, "--sampler", "dpm++2s", "--solver", "rk4"}, []string{"--solver", "ode", "dpm++2s"}},
		{[]string{"--model-path", c.ddpm50, "--sampler", "ddim", "--spacing", "lambda"}, []string{"--spacing", "lambda", "ddim"}},
		{[]string{"--model-path", c.ddpm50, "--sampler", "dpm++2m", "--spacing", "cosine"}, []string{"--spacing", "cosine"}},
		{[]string{"--model-path", c.vp, "--sampler", "ddim", "--spacing", "leading"}, []string{"leading", "discrete"}},
		{[]string{"--model-path", c.ddpm50, "--sampler", "edm", "--rho", "0"}, []string{"--rho", "0"}},
		{[]string{"--model-path", c.ddpm50, "--sampler", "edm", "--rho", "NaN"}, []string{"--rho", "NaN"}},
		{[]string{"--model-path", c.ddpm50, "--sampler", "edm", "--clip", "--langevin-steps", "3"}, []string{"--langevin-steps", "langevin", "edm"}},
		{[]string{"--model-path", c.ve, "--sampler", "langevin", "--clip"}, []string{"--clip", "langevin"}},
		{[]string{"--model-path", c.ddpm50, "--sampler", "dpm++"}, []string{"dpm++", "dpm++2m, dpm++2s"}},
		{[]string{"--model-path", c.ddpm50, "--batch-size", "-1"}, []string{"--batch-size"}},
	}
	for _, tc := range cases {
		assertRefused(t, tc.args, tc.want)
	}
}

// assertRefused runs sample with args (which start with --model-path DIR) on
// 10 samples and checks that it fails with an error naming every one of want
// and writes neither FILE.csv nor FILE.png.
func assertRefused(t *testing.T, args, want []string) {
	t.Helper()
	base := filepath.Join(t.TempDir(), "out")
	_, err := sample(append(args, "--num-samples", "10", "--out", base)...)
	if err == nil {
		t.Errorf("%v: accepted", args[2:])
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%v: error %q does not name %q", args[2:], err, w)
		}
	}
	for _, ext := range []string{".csv", ".png"} {
		if _, err := os.Stat(base + ext); err == nil {
			t.Errorf("%v: %s written despite the error", args[2:], ext)
		}
	}
}

// The figures of the text output.
var (
	headRe    = regexp.MustCompile(`^(\d+) samples from (\S+) \(step (\d+), (.*) weights; (.*)\) with (.*): (\d+) model evaluations(?: per batch \((\d+) in all\))?, (\d+) steps, in (\S+)$`)
	nllRe     = regexp.MustCompile(`^true-density NLL: samples (\S+) nats, fresh data(?: of the same labels)? (\S+) nats$`)
	mmdRe     = regexp.MustCompile(`^MMD² to .*: (\S+)$`)
	swRe      = regexp.MustCompile(`^sliced Wasserstein-2 to .*: (\S+)$`)
	modesRe   = regexp.MustCompile(`^mode shares \(within 0.5 of a centre\): ([0-9. ]+); off-mode (\S+)$`)
	moonsRe   = regexp.MustCompile(`^moon shares \(nearest moon: outer, inner\): ([0-9. ]+)$`)
	inModeRe  = regexp.MustCompile(`^in the requested class's mode: (\S+) of the samples$`)
	labelsRe  = regexp.MustCompile(`^labels: (?:class (\d+) for every sample|cycling through classes 0…(\d+) .*|.*); guidance w = (\S+)`)
	decimalRe = regexp.MustCompile(`\.(\d+)$`)
)

// textFigures parses the figures of sample's text output into the keys of
// its JSON object (with the number of printed decimals of each).
func textFigures(t *testing.T, out string) (map[string]any, map[string]int) {
	t.Helper()
	figs, digits := map[string]any{}, map[string]int{}
	f := func(key, s string) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%s: %q is not a number", key, s)
		}
		figs[key] = v
		if m := decimalRe.FindStringSubmatch(s); m != nil {
			digits[key] = len(m[1])
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if m := headRe.FindStringSubmatch(line); m != nil {
			f("num_samples", m[1])
			figs["checkpoint"] = m[2]
			f("step", m[3])
			figs["weights"], figs["model"], figs["sampler_desc"] = m[4], m[5], m[6]
			f("nfe", m[7])
			if m[8] != "" {
				f("total_nfe", m[8])
			} else {
				f("total_nfe", m[7])
			}
			f("steps", m[9])
			d, err := time.ParseDuration(m[10])
			if err != nil {
				t.Fatalf("duration %q: %v", m[10], err)
			}
			figs["seconds"] = d.Seconds()
		}
		if m := nllRe.FindStringSubmatch(line); m != nil {
			f("nll_samples", m[1])
			f("nll_data", m[2])
		}
		if m := mmdRe.FindStringSubmatch(line); m != nil {
			f("mmd2", m[1])
		}
		if m := swRe.FindStringSubmatch(line); m != nil {
			f("sliced_w2", m[1])
		}
		if m := modesRe.FindStringSubmatch(line); m != nil {
			figs["mode_shares"] = strings.Fields(m[1])
			f("off_mode", m[2])
		}
		if m := moonsRe.FindStringSubmatch(line); m != nil {
			figs["mode_shares"] = strings.Fields(m[1])
		}
		if m := inModeRe.FindStringSubmatch(line); m != nil {
			f("in_requested_mode", m[1])
		}
		if m := labelsRe.FindStringSubmatch(line); m != nil {
			if m[1] != "" {
				f("class", m[1])
			}
			if m[2] != "" {
				k, _ := strconv.Atoi(m[2])
				figs["classes"] = float64(k + 1)
			}
			f("guidance", m[3])
		}
	}
	return figs, digits
}

// TestSampleJSON: with --json the last line of stdout is one JSON object
// holding every figure of the text output, equal to it to the printed
// digits (the text lines come first, unchanged), for unconditional and
// conditional gaussians8, moons, batched and whole runs.
func TestSampleJSON(t *testing.T) {
	c := trainCheckpoints(t)
	for _, tc := range []struct {
		name string
		args []string
		keys []string // keys that must be there
	}{
		{"ddpm50", []string{"--model-path", c.ddpm50, "--sampler", "ddim", "--sample-steps", "5"},
			[]string{"mode_shares", "off_mode", "mmd2", "sliced_w2"}},
		{"vp-batched", []string{"--model-path", c.vp, "--sampler", "pc", "--sample-steps", "3", "--batch-size", "40"},
			[]string{"mode_shares", "off_mode"}},
		{"cond-class", []string{"--model-path", c.cond, "--sampler", "dpm++2m", "--sample-steps", "5", "--class", "6", "--guidance", "2.5"},
			[]string{"class", "guidance", "in_requested_mode", "mode_shares"}},
		{"cond-classes", []string{"--model-path", c.cond, "--sampler", "ddpm", "--sample-steps", "5"},
			[]string{"classes", "guidance", "in_requested_mode"}},
		{"moons", []string{"--model-path", c.condVE, "--sampler", "edm", "--sample-steps", "3"},
			[]string{"classes", "guidance", "in_requested_mode", "mode_shares"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, obj := sampleJSON(t, append(tc.args, "--num-samples", "100", "--out", filepath.Join(t.TempDir(), "s"))...)
			figs, digits := textFigures(t, out)
			for _, k := range append([]string{"nfe", "total_nfe", "seconds", "steps", "num_samples", "checkpoint", "step", "nll_samples", "nll_data"}, tc.keys...) {
				if _, ok := obj[k]; !ok {
					t.Errorf("JSON lacks %q:\n%s", k, out)
				}
				if _, ok := figs[k]; !ok {
					t.Errorf("the text lacks %q:\n%s", k, out)
				}
			}
			for k, tv := range figs {
				jv, ok := obj[k]
				if !ok {
					t.Errorf("JSON lacks the text's %s = %v", k, tv)
					continue
				}
				switch tv := tv.(type) {
				case string:
					if jv != tv {
						t.Errorf("%s: JSON %v, text %q", k, jv, tv)
					}
				case []string:
					arr, ok := jv.([]any)
					if !ok || len(arr) != len(tv) {
						t.Errorf("%s: JSON %v, text %v", k, jv, tv)
						continue
					}
					for i, s := range tv {
						v, _ := strconv.ParseFloat(s, 64)
						if j, ok := arr[i].(float64); !ok || math.Abs(j-v) > 0.5e-3+1e-12 {
							t.Errorf("%s[%d]: JSON %v, text %s", k, i, arr[i], s)
						}
					}
				case float64:
					j, ok := jv.(float64)
					if !ok {
						t.Errorf("%s: JSON %v (%T), text %v", k, jv, jv, tv)
						continue
					}
					tol := 1e-12
					if d, ok := digits[k]; ok && k != "seconds" {
						tol = 0.5*math.Pow(10, -float64(d)) + 1e-12
					}
					if k == "seconds" {
						tol = 1e-9
					}
					if math.Abs(j-tv) > tol {
						t.Errorf("%s: JSON %v, text %v", k, j, tv)
					}
				}
			}
			if lines := strings.Split(strings.TrimSpace(out), "\n"); !headRe.MatchString(lines[0]) {
				t.Errorf("the first line is not the run's summary: %q", lines[0])
			}
		})
	}
}

// TestSampleLabels: --classes (the default for a conditional checkpoint)
// gives sample i the label i mod K in the CSV's label column, --class K
// gives every sample K, --classes=false gives no labels (the null
// condition), and an unconditional checkpoint writes no label column.
func TestSampleLabels(t *testing.T) {
	c := trainCheckpoints(t)
	labelsOf := func(args ...string) ([]int, map[string]any) {
		t.Helper()
		base := filepath.Join(t.TempDir(), "s")
		_, obj := sampleJSON(t, append(args, "--sampler", "ddim", "--sample-steps", "3", "--num-samples", "21", "--out", base)...)
		raw, err := os.ReadFile(base + ".csv")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		if lines[0] == "x,y" {
			return nil, obj
		}
		if lines[0] != "x,y,label" {
			t.Fatalf("CSV header %q", lines[0])
		}
		var labels []int
		for _, l := range lines[1:] {
			f := strings.Split(l, ",")
			k, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatalf("bad label in %q", l)
			}
			labels = append(labels, k)
		}
		return labels, obj
	}
	for _, tc := range []struct {
		name  string
		args  []string
		want  func(i int) int // nil: no label column
		order string
	}{
		{"default", []string{"--model-path", c.cond}, func(i int) int { return i % 8 }, "cycled"},
		{"classes", []string{"--model-path", c.cond, "--classes"}, func(i int) int { return i % 8 }, "cycled"},
		{"moons", []string{"--model-path", c.condVE}, func(i int) int { return i % 2 }, "cycled"},
		{"class", []string{"--model-path", c.cond, "--class", "5"}, func(int) int { return 5 }, "class"},
		{"null", []string{"--model-path", c.cond, "--classes=false"}, nil, "null"},
		{"unconditional", []string{"--model-path", c.ddpm50}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labels, obj := labelsOf(tc.args...)
			if tc.want == nil {
				if labels != nil {
					t.Errorf("labels %v, want none", labels)
				}
			} else {
				if len(labels) != 21 {
					t.Fatalf("%d labels, want 21", len(labels))
				}
				for i, l := range labels {
					if l != tc.want(i) {
						t.Errorf("sample %d has label %d, want %d", i, l, tc.want(i))
					}
				}
			}
			if got, _ := obj["label_order"].(string); got != tc.order {
				t.Errorf("label_order %q, want %q", got, tc.order)
			}
			if _, ok := obj["guidance"]; ok != (tc.order != "") {
				t.Errorf("guidance in the JSON: %v, want it for conditional checkpoints only", ok)
			}
		})
	}
}

// TestSampleConditionRefusals: labels or guidance the checkpoint cannot
// take exit with an error naming the problem (and the file, for an
// unconditional checkpoint) and write nothing.
func TestSampleConditionRefusals(t *testing.T) {
	c := trainCheckpoints(t)
	ckpt := filepath.Join(c.ddpm50, "model.ckpt")
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--model-path", c.ddpm50, "--class", "1"}, []string{"--class", "not conditional", ckpt}},
		{[]string{"--model-path", c.ddpm50, "--classes"}, []string{"--classes", "not conditional", ckpt}},
		{[]string{"--model-path", c.ddpm50, "--guidance", "1"}, []string{"--guidance", "not conditional", ckpt}},
		{[]string{"--model-path", c.vp, "--guidance", "2"}, []string{"--guidance", "not conditional"}},
		{[]string{"--model-path", c.cond, "--class", "8"}, []string{"--class 8", "out of range", "0…7"}},
		{[]string{"--model-path", c.cond, "--class", "-1"}, []string{"--class -1", "out of range", "0…7"}},
		{[]string{"--model-path", c.condVE, "--class", "2"}, []string{"--class 2", "0…1"}},
		{[]string{"--model-path", c.cond, "--class", "1", "--classes"}, []string{"--class", "--classes"}},
		{[]string{"--model-path", c.cond, "--guidance", "-0.5"}, []string{"--guidance", "-0.5"}},
		{[]string{"--model-path", c.cond, "--guidance", "NaN"}, []string{"--guidance", "NaN"}},
		{[]string{"--model-path", c.cond, "--guidance", "+Inf"}, []string{"--guidance", "Inf"}},
		{[]string{"--model-path", c.cond, "--classes=false", "--guidance", "3"}, []string{"--guidance", "--classes=false"}},
	}
	for _, tc := range cases {
		assertRefused(t, append(tc.args, "--sampler", "ddim", "--sample-steps", "2"), tc.want)
	}
}

// TestSampleConditionalQuality trains a class-conditional gaussians8 model
// (p_uncond 0.1) and asks for one class at a time: with the labels reaching
// the model in the right order, nearly every sample lands in the requested
// mode (a model that ignored its label would put 1/8 there), with guidance
// too, and --classes spreads the samples evenly over the 8 modes.
func TestSampleConditionalQuality(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model for 1500 steps")
	}
	dir := t.TempDir()
	cfg := experiment.Default2D("gaussians8")
	cfg.ClassCond, cfg.PUncond = true, 0.1
	cfg.MLP.Hidden, cfg.MLP.Blocks = 64, 2
	cmdtest.Train(t, backendForTest(t), cfg, dir, 1500, 256)
	for _, tc := range []struct {
		args []string
		min  float64
	}{
		{[]string{"--class", "3"}, 0.8},
		{[]string{"--class", "6", "--guidance", "3"}, 0.8},
		{[]string{"--classes"}, 0.8},
	} {
		_, obj := sampleJSON(t, append([]string{"--model-path", dir, "--sampler", "dpm++2m", "--num-samples", "400", "--out", filepath.Join(t.TempDir(), "s")}, tc.args...)...)
		in := cmdtest.Num(t, obj, "in_requested_mode")
		t.Logf("%v: %.3f in the requested mode, mode shares %v", tc.args, in, obj["mode_shares"])
		if in < tc.min {
			t.Errorf("%v: %.3f of the samples in the requested mode, want ≥ %.2f", tc.args, in, tc.min)
		}
		if tc.args[0] == "--classes" {
			for k, s := range obj["mode_shares"].([]any) {
				// 50 samples a class: binomial sd √(400·(1/8)(7/8))/400 ≈ 0.017.
				if math.Abs(s.(float64)-0.125) > 0.06 {
					t.Errorf("--classes: mode %d holds %.3f of the samples, want ≈ 0.125", k, s)
				}
			}
		}
	}
}
