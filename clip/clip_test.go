package clip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/diffusion/cond"
	"github.com/godiffusion/diffusion-models/internal/safecall"
	"github.com/godiffusion/diffusion-models/text"
)

// tiny is a CLIP model small enough to train in a test, on 8×8 images.
func tiny(vocab, maxLen int) Config {
	return Config{
		Text:      text.EncoderConfig{VocabSize: vocab, MaxLen: maxLen, Width: 16, Layers: 1, Heads: 2, MLPMult: 2},
		ImageSize: 8, ImageBase: 8, GroupNormGroups: 4, EmbedDim: 16,
	}
}

func TestConfig(t *testing.T) {
	c := Config{Text: text.EncoderConfig{VocabSize: 80}}.WithDefaults()
	if c.ImageSize != 28 || c.InChannels != 1 || c.ImageBase != 32 || c.GroupNormGroups != 8 || c.EmbedDim != 64 ||
		c.InitTemperature != 0.07 || c.Text.Width != 64 || c.Text.MaxLen != text.DefaultMaxLen {
		t.Errorf("defaults: %+v", c)
	}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{}, "Config.Text: text: invalid EncoderConfig: VocabSize"},
		{Config{Text: text.EncoderConfig{VocabSize: 10}, ImageSize: -1}, "ImageSize"},
		{Config{Text: text.EncoderConfig{VocabSize: 10}, ImageBase: 12}, "GroupNormGroups must be ≥ 1 and divide ImageBase 12"},
		{Config{Text: text.EncoderConfig{VocabSize: 10}, EmbedDim: -3}, "EmbedDim"},
		{Config{Text: text.EncoderConfig{VocabSize: 10}, InitTemperature: -1}, "InitTemperature must be finite and > 0"},
		{Config{Text: text.EncoderConfig{VocabSize: 10}, InitTemperature: 0.001}, "below 1/100"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error with %q", tc.c, err, tc.want)
		}
	}
}

// lossOf runs c.Loss on images x and ids with the weights in store and
// returns the loss and the terms.
func lossOf(t *testing.T, store *model.Store, c Config, x, ids *tensors.Tensor) [][]float32 {
	t.Helper()
	exec, err := model.NewExec(backend.MustShared(), store, func(scope *model.Scope, x, ids *Node) []*Node {
		loss, terms := c.Loss()(scope.In(diffusion.ModelScope), x, cond.Nodes{Inputs: map[string]*Node{cond.Text: ids}})
		return append([]*Node{loss}, terms...)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := safecall.Call(exec, x, ids)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([][]float32, len(outs))
	for i, o := range outs {
		if o.Shape().Rank() != 1 || o.Shape().Dimensions[0] != x.Shape().Dimensions[0] {
			t.Errorf("output %d shaped %s, want per-example [%d]", i, o.Shape(), x.Shape().Dimensions[0])
		}
		vals[i] = tensors.MustCopyFlatData[float32](o)
	}
	return vals
}

func randomBatch(c Config, n int, seed uint64) (x, ids *tensors.Tensor) {
	c = c.WithDefaults()
	rng := rand.New(rand.NewPCG(seed, 1))
	img := make([]float32, n*c.ImageSize*c.ImageSize*c.InChannels)
	for i := range img {
		img[i] = float32(rng.Float64()*2 - 1)
	}
	tok := make([]int32, n*c.Text.MaxLen)
	for i := range n {
		tok[i*c.Text.MaxLen] = text.BOSID
		for j := 1; j < 1+rng.IntN(c.Text.MaxLen); j++ {
			tok[i*c.Text.MaxLen+j] = int32(3 + rng.IntN(c.Text.VocabSize-3))
		}
	}
	return tensors.FromFlatDataAndDimensions(img, append([]int{n}, c.ImageDims()...)...),
		tensors.FromFlatDataAndDimensions(tok, n, c.Text.MaxLen)
}

// TestLossAndParams checks the loss of a random batch at initialisation:
// per-example outputs, finite, accuracies 0 or 1, the initial temperature,
// and that the variables created are NumParams many, laid out under
// /model/{image, image_proj, text, text_proj, logit_scale}.
func TestLossAndParams(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
	}{
		{"tiny", tiny(12, 6)},
		{"defaults, vocabulary 80", Config{Text: text.EncoderConfig{VocabSize: 80}}},
		{"colour 10×10", Config{Text: text.EncoderConfig{VocabSize: 9, MaxLen: 4, Width: 8, Heads: 2},
			ImageSize: 10, InChannels: 3, ImageBase: 4, GroupNormGroups: 2, EmbedDim: 6, InitTemperature: 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c.WithDefaults()
			store := model.NewStore()
			x, ids := randomBatch(c, 5, 1)
			vals := lossOf(t, store, c, x, ids)
			if len(vals) != 1+len(c.TermNames()) {
				t.Fatalf("%d outputs, want the loss and %v", len(vals), c.TermNames())
			}
			for i := range 5 {
				loss, i2t, t2i, temp := vals[0][i], vals[1][i], vals[2][i], vals[3][i]
				if math.IsNaN(float64(loss)) || loss < 0 {
					t.Errorf("example %d: loss %g", i, loss)
				}
				if (i2t != 0 && i2t != 1) || (t2i != 0 && t2i != 1) {
					t.Errorf("example %d: accuracies %g, %g, want 0 or 1", i, i2t, t2i)
				}
				if math.Abs(float64(temp)-c.InitTemperature) > 1e-6 {
					t.Errorf("example %d: temperature %g, want %g", i, temp, c.InitTemperature)
				}
			}
			var n int
			tops := map[string]bool{}
			for v := range store.Scope("/" + diffusion.ModelScope).IterVariables() {
				n += v.Shape().Size()
				tops[strings.SplitN(strings.TrimPrefix(v.Path(), "/model/"), "/", 2)[0]] = true
			}
			if n != c.NumParams() {
				t.Errorf("%d parameters created, NumParams says %d", n, c.NumParams())
			}
			if len(tops) != 5 || !tops["image"] || !tops["image_proj"] || !tops["text"] || !tops["text_proj"] || !tops["logit_scale"] {
				t.Errorf("variables under /model/%v, want image, image_proj, text, text_proj, logit_scale", tops)
			}
		})
	}
	if got := (Config{Text: text.EncoderConfig{VocabSize: 80}}).NumParams(); got != 170241 {
		t.Errorf("NumParams of the default CLIP with 80 tokens = %d, want 170241", got)
	}
}

func TestLossRefuses(t *testing.T) {
	c := tiny(12, 6)
	x, ids := randomBatch(c, 3, 2)
	for _, tc := range []struct {
		name string
		cn   func(ids *Node) cond.Nodes
		want string
	}{
		{"no text", func(ids *Node) cond.Nodes { return cond.Nodes{Inputs: map[string]*Node{cond.Class: ids}} }, `condition input "text"`},
		{"no condition", func(*Node) cond.Nodes { return cond.Nodes{} }, `condition input "text"`},
		{"null mask", func(ids *Node) cond.Nodes {
			null := BroadcastToDims(Const(ids.Graph(), false), 3)
			return cond.Nodes{Inputs: map[string]*Node{cond.Text: ids}, Null: null}
		}, "PUncond = 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec, err := model.NewExec(backend.MustShared(), model.NewStore(), func(scope *model.Scope, x, ids *Node) *Node {
				loss, _ := c.Loss()(scope, x, tc.cn(ids))
				return loss
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := safecall.Call(exec, x, ids); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("loss with %s: %v, want an error with %q", tc.name, err, tc.want)
			}
		})
	}
}

// infoNCE64 is InfoNCE in float64, straight from the definition.
func infoNCE64(l [][]float64) []float64 {
	n := len(l)
	lse := func(v []float64) float64 {
		m := math.Inf(-1)
		for _, x := range v {
			m = max(m, x)
		}
		var s float64
		for _, x := range v {
			s += math.Exp(x - m)
		}
		return m + math.Log(s)
	}
	out := make([]float64, n)
	for i := range n {
		col := make([]float64, n)
		for j := range n {
			col[j] = l[j][i]
		}
		rowCE := lse(l[i]) - l[i][i]
		colCE := lse(col) - l[i][i]
		out[i] = (rowCE + colCE) / 2
	}
	return out
}

func TestInfoNCE(t *testing.T) {
	exec := MustNewExec(backend.MustShared(), InfoNCE)
	for _, tc := range []struct {
		name string
		l    [][]float64
	}{
		{"equal logits", [][]float64{{2, 2, 2}, {2, 2, 2}, {2, 2, 2}}},
		{"asymmetric", [][]float64{{3, -1, 0.5}, {0, 2, 4}, {-2, 1, 1}}},
		{"large", [][]float64{{90, -50, 10, 0}, {20, 60, -80, 5}, {0, 0, 0, 0}, {-30, 70, 25, 100}}},
		{"one pair", [][]float64{{1.5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := exec.MustExec(tc.l)[0].Value().([]float64)
			want := infoNCE64(tc.l)
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-12*max(1, math.Abs(want[i])) {
					t.Errorf("ℓ_%d = %.15g, want %.15g", i, got[i], want[i])
				}
			}
			if tc.name == "equal logits" && math.Abs(want[0]-math.Log(3)) > 1e-15 {
				t.Errorf("equal logits: %g, want log 3", want[0])
			}
		})
	}
	// A hand-checked value: for [[0, 0], [0, log 3]] row 0 and column 0
	// are uniform (log 2 each); row 1 and column 1 give
	// log(1+3) − log 3 each, so ℓ = (log 2, log 4 − log 3).
	got := exec.MustExec([][]float64{{0, 0}, {0, math.Log(3)}})[0].Value().([]float64)
	if math.Abs(got[0]-math.Log(2)) > 1e-15 || math.Abs(got[1]-math.Log(4.0/3)) > 1e-15 {
		t.Errorf("InfoNCE([[0, 0], [0, log 3]]) = %v, want [log 2, log 4/3]", got)
	}
}

func TestSimilarityAndZeroShot(t *testing.T) {
	img := [][]float32{{1, 0}, {0, 1}, {0.6, 0.8}, {-1, 0}}
	cls := [][]float32{{0, 1}, {1, 0}}
	sim := Similarity(img, cls)
	want := [][]float64{{0, 1}, {1, 0}, {0.800000011920929, 0.6000000238418579}, {0, -1}}
	for i := range want {
		for j := range want[i] {
			if math.Abs(sim[i][j]-want[i][j]) > 1e-7 {
				t.Errorf("Similarity[%d][%d] = %g, want %g", i, j, sim[i][j], want[i][j])
			}
		}
	}
	if got := ZeroShot(img, cls); fmt.Sprint(got) != "[1 0 0 0]" {
		t.Errorf("ZeroShot = %v, want [1 0 0 0] (ties and negatives to the first class)", got)
	}
	if got := ZeroShot(img[:1], nil); fmt.Sprint(got) != "[-1]" {
		t.Errorf("ZeroShot without classes = %v, want [-1]", got)
	}
}

func TestNewRefusesWrongStore(t *testing.T) {
	b := backend.MustShared()
	c := tiny(12, 6)
	if _, err := New(b, model.NewStore(), c); err == nil || !strings.Contains(err.Error(), "the store has no variable /model/") {
		t.Errorf("New with an empty store: %v", err)
	}
	store := model.NewStore()
	x, ids := randomBatch(c, 2, 3)
	lossOf(t, store, c, x, ids) // creates the weights of c
	if _, err := New(b, store, c); err != nil {
		t.Errorf("New with the weights of its Config: %v", err)
	}
	other := c
	other.EmbedDim = 8
	if _, err := New(b, store, other); err == nil || !strings.Contains(err.Error(), "another configuration") {
		t.Errorf("New with the weights of another Config: %v", err)
	}
	if _, err := New(b, store, Config{}); err == nil || !strings.Contains(err.Error(), "VocabSize") {
		t.Errorf("New with an invalid Config: %v", err)
	}
}

// bars are the classes of the synthetic task: a bright bar on a dark
// background, at one side of an 8×8 image.
var bars = []string{"left", "right", "top", "bottom"}

// captionTemplates say the same thing in different words.
var captionTemplates = []string{"bar %s", "a bar on the %s", "the %s bar", "%s"}

// barData draws images of bars with a random thickness (1–2 pixels), a
// random offset from the side (0–1 pixels) and Gaussian noise (σ = 0.2),
// each captioned by a random template. Batch is a deterministic function of
// step; steps < 0 give images never trained on.
type barData struct{ tok *text.Tokenizer }

func (d barData) images(rng *rand.Rand, n int) ([]float32, []int) {
	x := make([]float32, n*64)
	labels := make([]int, n)
	for i := range n {
		k := rng.IntN(len(bars))
		labels[i] = k
		from := rng.IntN(2)
		to := from + 1 + rng.IntN(2)
		for p := range 64 {
			r, c := p/8, p%8
			var pos int
			switch bars[k] {
			case "left":
				pos = c
			case "right":
				pos = 7 - c
			case "top":
				pos = r
			case "bottom":
				pos = 7 - r
			}
			v := -1.0
			if pos >= from && pos < to {
				v = 1
			}
			x[i*64+p] = float32(v + 0.2*rng.NormFloat64())
		}
	}
	return x, labels
}

func (d barData) Batch(step int64, n int) (*tensors.Tensor, cond.Condition, error) {
	rng := rand.New(rand.NewPCG(uint64(step), 11))
	x, labels := d.images(rng, n)
	captions := make([]string, n)
	for i, k := range labels {
		captions[i] = fmt.Sprintf(captionTemplates[rng.IntN(len(captionTemplates))], bars[k])
	}
	ids, _ := d.tok.EncodeBatch(captions)
	return tensors.FromFlatDataAndDimensions(x, n, 8, 8, 1), cond.Condition{Inputs: map[string]*tensors.Tensor{cond.Text: ids}}, nil
}

// TestTrainBars trains the tiny model on the bars with the project's
// trainer and checks zero-shot classification of fresh images by the
// prompts "a bar on the left", …: chance is 1/4, the trained model must
// reach 0.9. It also checks that the host-side embeddings have unit norm
// and agree with the logits the loss sees.
func TestTrainBars(t *testing.T) {
	var corpus []string
	for _, tpl := range captionTemplates {
		for _, b := range bars {
			corpus = append(corpus, fmt.Sprintf(tpl, b))
		}
	}
	tok, err := text.Train(corpus, 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := tiny(tok.VocabSize(), tok.Len())
	be := backend.MustShared()
	tr, err := diffusion.NewTrainerWithTerms(be, c.Loss(), c.TermNames(), diffusion.TrainConfig{LearningRate: 3e-3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	data := barData{tok}
	var first, last diffusion.StepResult
	if err := tr.Run(data, diffusion.RunOptions{Steps: 150, BatchSize: 32, OnStep: func(step int64, r diffusion.StepResult) {
		if step == 1 {
			first = r
		}
		last = r
	}}); err != nil {
		t.Fatal(err)
	}
	t.Logf("loss %.3f → %.3f; i2t_acc %.2f → %.2f; temperature %.4f → %.4f",
		first.Loss, last.Loss, first.Terms[0], last.Terms[0], first.Terms[2], last.Terms[2])

	ck, err := tr.Checkpoint(nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := diffusion.SamplingStore(ck, false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(be, store, c)
	if err != nil {
		t.Fatal(err)
	}
	acc := zeroShotAccuracy(t, m, data, tok)
	t.Logf("zero-shot accuracy on fresh images: %.3f (chance 0.25); temperature %.4f", acc, m.Temperature())
	if acc < 0.9 {
		t.Errorf("zero-shot accuracy %.3f, want ≥ 0.9", acc)
	}
	if tau := m.Temperature(); math.Abs(tau-last.Terms[2]) > 1e-3*tau {
		t.Errorf("Model.Temperature %g, the last step reported %g", tau, last.Terms[2])
	}

	// The control: the same measure on the untrained model is near chance.
	untrained := model.NewStore()
	x0, c0, _ := data.Batch(0, 2)
	lossOf(t, untrained, c, x0, c0.Inputs[cond.Text])
	m0, err := New(be, untrained, c)
	if err != nil {
		t.Fatal(err)
	}
	acc0 := zeroShotAccuracy(t, m0, data, tok)
	t.Logf("untrained: zero-shot accuracy %.3f", acc0)
	if acc0 >= 0.9 {
		t.Errorf("the untrained model already reaches %.3f: the test cannot tell training from chance", acc0)
	}
}

// zeroShotAccuracy classifies 300 fresh images of bars by the prompts
// "a bar on the left", … and returns the share classified right. It also
// checks that the embeddings have unit norm.
func zeroShotAccuracy(t *testing.T, m *Model, data barData, tok *text.Tokenizer) float64 {
	t.Helper()
	const n = 300
	images, labels := data.images(rand.New(rand.NewPCG(99, 99)), n)
	imgEmb, err := m.ImageEmbeddings(images, n)
	if err != nil {
		t.Fatal(err)
	}
	prompts := make([]string, len(bars))
	for k, b := range bars {
		prompts[k] = "a bar on the " + b
	}
	ids, _ := tok.EncodeBatch(prompts)
	txtEmb, err := m.TextEmbeddings(ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range [][][]float32{imgEmb, txtEmb} {
		for i, e := range set {
			var s float64
			for _, v := range e {
				s += float64(v) * float64(v)
			}
			if math.Abs(math.Sqrt(s)-1) > 1e-5 || len(e) != m.Config.EmbedDim {
				t.Fatalf("embedding %d has %d values and norm %g, want %d and 1", i, len(e), math.Sqrt(s), m.Config.EmbedDim)
			}
		}
	}
	var hits int
	for i, k := range ZeroShot(imgEmb, txtEmb) {
		if k == labels[i] {
			hits++
		}
	}
	return float64(hits) / n
}

// TestModelBatches checks that embedding in several batches (more than
// BatchSize items) gives the same rows as one at a time.
func TestModelBatches(t *testing.T) {
	c := tiny(12, 6)
	store := model.NewStore()
	x, ids := randomBatch(c, BatchSize+3, 4)
	lossOf(t, store, c, x, ids)
	m, err := New(backend.MustShared(), store, c)
	if err != nil {
		t.Fatal(err)
	}
	all, err := m.TextEmbeddings(ids)
	if err != nil {
		t.Fatal(err)
	}
	flat := tensors.MustCopyFlatData[int32](ids)
	last := tensors.FromFlatDataAndDimensions(flat[len(flat)-6:], 1, 6)
	one, err := m.TextEmbeddings(last)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != BatchSize+3 || maxDiff(all[len(all)-1], one[0]) > 1e-5 {
		t.Errorf("%d text embeddings; the last differs by %g from its own", len(all), maxDiff(all[len(all)-1], one[0]))
	}
	imgs := tensors.MustCopyFlatData[float32](x)
	allImg, err := m.ImageEmbeddings(imgs, BatchSize+3)
	if err != nil {
		t.Fatal(err)
	}
	oneImg, err := m.ImageEmbeddings(imgs[len(imgs)-64:], 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(allImg) != BatchSize+3 || maxDiff(allImg[len(allImg)-1], oneImg[0]) > 1e-5 {
		t.Errorf("%d image embeddings; the last differs by %g from its own", len(allImg), maxDiff(allImg[len(allImg)-1], oneImg[0]))
	}
	if _, err := m.ImageEmbeddings(imgs[:10], 1); err == nil || !strings.Contains(err.Error(), "needs 64 values, got 10") {
		t.Errorf("ImageEmbeddings with the wrong length: %v", err)
	}
	if _, err := m.TextEmbeddings(tensors.FromShape(shapes.Make(dtypes.Int32, 2, 9))); err == nil || !strings.Contains(err.Error(), "L ≤ 6") {
		t.Errorf("TextEmbeddings with too many ids: %v", err)
	}
}

func maxDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}
