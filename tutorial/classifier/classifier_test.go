package classifier

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/tutorial/metrics"
	"github.com/godiffusion/diffusion-models/tutorial/mnist"
)

// smallConfig trains in about a second on a few thousand images.
var smallConfig = Config{Hidden: []int{32, 16}, Epochs: 3, BatchSize: 50, LearningRate: 3e-3, Seed: 7}

// loadSet loads a split of a dataset, skipping the test when Fashion-MNIST
// is not installed (MNIST comes with the Go module cache and must be there).
func loadSet(t *testing.T, dataset, split string) *mnist.Set {
	t.Helper()
	if dataset == "fashion-mnist" {
		if _, err := mnist.Dir(dataset); err != nil {
			t.Skipf("Fashion-MNIST is not installed, so its classifier cannot be checked: %v", err)
		}
	}
	s, err := mnist.Load(dataset, split)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// trainSmall trains smallConfig on the first 3000 MNIST training images.
func trainSmall(t *testing.T, cfg Config) *Classifier {
	t.Helper()
	c, err := Train(backend.MustShared(), loadSet(t, "mnist", "train").Subset(3000), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// weightsEqual reports whether two classifiers hold bit-identical weights.
func weightsEqual(t *testing.T, a, b *Classifier) bool {
	t.Helper()
	if len(a.weights) != len(b.weights) {
		return false
	}
	for path, ta := range a.weights {
		tb, ok := b.weights[path]
		if !ok {
			return false
		}
		if !slices.Equal(tensors.MustCopyFlatData[float32](ta), tensors.MustCopyFlatData[float32](tb)) {
			return false
		}
	}
	return true
}

// TestConfig checks the defaults and that every bad field is named.
func TestConfig(t *testing.T) {
	d := Config{}.WithDefaults()
	if !slices.Equal(d.Hidden, []int{512, 256}) || d.Epochs != 10 || d.BatchSize != 128 || d.LearningRate != 1e-3 || d.Dropout != 0 {
		t.Errorf("defaults = %+v", d)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("the zero Config does not validate: %v", err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"hidden width", Config{Hidden: []int{64, 0}}, "hidden layer 1 must have width > 0, got 0"},
		{"epochs", Config{Epochs: -1}, "epochs must be > 0, got -1"},
		{"batch", Config{BatchSize: -5}, "batch size must be > 0, got -5"},
		{"learning rate", Config{LearningRate: -1e-3}, "learning rate must be a finite number > 0"},
		{"learning rate NaN", Config{LearningRate: math.NaN()}, "learning rate must be a finite number > 0"},
		{"dropout", Config{Dropout: 1}, "dropout must be in [0, 1), got 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v; want an error containing %q", err, tc.want)
			}
			if _, err := Train(backend.MustShared(), loadSet(t, "mnist", "test").Subset(10), tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Train = %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestTrainDeterministicAndLearns: the same configuration trains to
// bit-identical weights twice (with dropout too), another seed or dropout
// to other weights, and even the small network classifies far above chance
// (10%) after three epochs on 3000 images.
func TestTrainDeterministicAndLearns(t *testing.T) {
	a, b := trainSmall(t, smallConfig), trainSmall(t, smallConfig)
	if !weightsEqual(t, a, b) {
		t.Error("two trainings with the same configuration gave different weights")
	}
	other := smallConfig
	other.Seed++
	if weightsEqual(t, a, trainSmall(t, other)) {
		t.Error("trainings with seeds 7 and 8 gave identical weights")
	}
	withDropout := smallConfig
	withDropout.Dropout = 0.3
	dropped := trainSmall(t, withDropout)
	if weightsEqual(t, a, dropped) {
		t.Error("dropout 0.3 changed nothing")
	}
	if !weightsEqual(t, dropped, trainSmall(t, withDropout)) {
		t.Error("two trainings with dropout and the same seed gave different weights")
	}
	acc, err := a.Accuracy(backend.MustShared(), loadSet(t, "mnist", "test").Subset(2000))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("small classifier: accuracy %.3f on 2000 test images", acc)
	if acc < 0.7 {
		t.Errorf("small classifier: accuracy %.3f < 0.7", acc)
	}
}

// TestOutputsAgree checks Predict against the arg-max of Logits, and the
// logits against the features recomputed by hand through the last layer
// (z = h·W + b in float64), for a batch that is not a multiple of the
// inference batch size.
func TestOutputsAgree(t *testing.T) {
	c := trainSmall(t, smallConfig)
	b := backend.MustShared()
	images := loadSet(t, "mnist", "test").Subset(inferenceBatch + 37).Pixels
	pred, err1 := c.Predict(b, images)
	logits, err2 := c.Logits(b, images)
	feats, err3 := c.Features(b, images)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if len(pred) != inferenceBatch+37 || len(logits) != len(pred) || len(feats) != len(pred) || len(feats[0]) != 16 {
		t.Fatalf("got %d predictions, %d logit rows, %d feature rows of %d", len(pred), len(logits), len(feats), len(feats[0]))
	}
	w := tensors.MustCopyFlatData[float32](c.weights["/classifier/logits/weights"]) // [16, 10]
	bias := tensors.MustCopyFlatData[float32](c.weights["/classifier/logits/biases"])
	for i := range pred {
		best := 0
		for k := range Classes {
			z := float64(bias[k])
			for j, h := range feats[i] {
				if h < 0 {
					t.Fatalf("image %d: feature %d is %g < 0 after a ReLU", i, j, h)
				}
				z += h * float64(w[j*Classes+k])
			}
			if math.Abs(z-logits[i][k]) > 1e-4*(1+math.Abs(z)) {
				t.Fatalf("image %d: logit %d is %g, features·W + b gives %g", i, k, logits[i][k], z)
			}
			if logits[i][k] > logits[i][best] {
				best = k
			}
		}
		if int(pred[i]) != best {
			t.Fatalf("image %d: predicted %d, arg-max of the logits is %d", i, pred[i], best)
		}
	}
}

// TestSaveLoadRoundTrip: a saved and reloaded classifier has the same
// dataset, configuration and weights, and gives identical predictions and
// features; no temporary file is left behind.
func TestSaveLoadRoundTrip(t *testing.T) {
	c := trainSmall(t, smallConfig)
	c.TestAccuracy = 0.5
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "c.bin")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	d, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.Dataset != "mnist" || !bytes.Equal(configJSON(d.Config), configJSON(c.Config)) || d.TestAccuracy != 0.5 || !weightsEqual(t, c, d) {
		t.Errorf("reloaded %q %+v acc %g; saved %q %+v acc %g (or weights differ)", d.Dataset, d.Config, d.TestAccuracy, c.Dataset, c.Config, c.TestAccuracy)
	}
	b := backend.MustShared()
	images := loadSet(t, "mnist", "test").Subset(1000).Pixels
	p1, _ := c.Predict(b, images)
	p2, err := d.Predict(b, images)
	if err != nil || !slices.Equal(p1, p2) {
		t.Errorf("predictions differ after reloading (%v)", err)
	}
	f1, _ := c.Features(b, images)
	f2, _ := d.Features(b, images)
	for i := range f1 {
		if !slices.Equal(f1[i], f2[i]) {
			t.Fatalf("features of image %d differ after reloading", i)
		}
	}
	// Overwriting keeps one file, and no temporary ones.
	if err := d.Save(path); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the folder holds %d entries after two saves, want 1", len(entries))
	}
}

// rewriteHeader returns a classifier file with its JSON header passed
// through edit, with a fresh length and checksum, so that only the checks
// after the checksum can catch the change.
func rewriteHeader(t *testing.T, raw []byte, edit func(string) string) []byte {
	t.Helper()
	body := raw[len(fileMagic) : len(raw)-sha256.Size]
	hlen := binary.LittleEndian.Uint64(body)
	header := edit(string(body[8 : 8+hlen]))
	var out bytes.Buffer
	out.WriteString(fileMagic)
	out.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(header))))
	out.WriteString(header)
	out.Write(body[8+hlen:])
	sum := sha256.Sum256(out.Bytes())
	out.Write(sum[:])
	return out.Bytes()
}

// TestLoadRefusesCorrupt: damaged and foreign files are refused with an
// error wrapping ErrCorrupt that names the file; a missing one with
// os.ErrNotExist.
func TestLoadRefusesCorrupt(t *testing.T) {
	c := trainSmall(t, smallConfig)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.bin")
	if err := c.Save(good); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(raw)
	flipped[len(flipped)/2] ^= 0x10
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"flipped bit", flipped, "checksum mismatch"},
		{"truncated", raw[:len(raw)-100], "checksum mismatch"},
		{"empty", nil, "does not start with"},
		{"foreign", []byte("GODIFFUSION-CKPT v1\n" + strings.Repeat("x", 100)), "does not start with"},
		{"weights do not fit the configuration", rewriteHeader(t, raw, func(h string) string {
			return strings.Replace(h, `"hidden":[32,16]`, `"hidden":[32,17]`, 1)
		}), "weight tensor /classifier/hidden1/biases is (Float32)[16], want (Float32)[17]"},
		{"tensor outside the data", rewriteHeader(t, raw, func(h string) string {
			return strings.Replace(h, `"offset":0`, `"offset":99999999`, 1)
		}), "lies outside the data"},
		{"bad configuration", rewriteHeader(t, raw, func(h string) string {
			return strings.Replace(h, `"dropout":0`, `"dropout":2`, 1)
		}), "dropout must be in [0, 1)"},
		{"bad JSON", rewriteHeader(t, raw, func(h string) string { return h[:len(h)-1] }), "header:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".bin")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("Load = %v; want an ErrCorrupt naming %s and containing %q", err, path, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v; want os.ErrNotExist", err)
	}
}

// TestBadInput: wrong image sizes, non-finite pixels, wrong geometry and a
// missing cache folder are refused with errors that say so.
func TestBadInput(t *testing.T) {
	c := trainSmall(t, smallConfig)
	b := backend.MustShared()
	nan := make([]float32, 2*InputSize)
	nan[InputSize+5] = float32(math.NaN())
	for _, tc := range []struct {
		name   string
		images []float32
		want   string
	}{
		{"empty", nil, "images must hold N×784 values"},
		{"ragged", make([]float32, InputSize+1), "got 785 values"},
		{"NaN", nan, "pixel 5 of image 1 is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Predict(b, tc.images); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Predict: %v; want an error containing %q", err, tc.want)
			}
			if _, err := c.Features(b, tc.images); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Features: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	small, err := loadSet(t, "mnist", "test").Subset(20).Downsample(2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Train(b, small, smallConfig, nil); err == nil || !strings.Contains(err.Error(), "14×14×1 images; the classifier takes 28×28×1") {
		t.Errorf("Train on 14×14 images: %v", err)
	}
	if _, err := c.Accuracy(b, small); err == nil || !strings.Contains(err.Error(), "14×14×1") {
		t.Errorf("Accuracy on 14×14 images: %v", err)
	}
	if _, err := Train(b, nil, smallConfig, nil); err == nil {
		t.Error("Train on a nil set: no error")
	}
	if _, _, err := LoadOrTrain(b, "mnist", "", nil); err == nil || !strings.Contains(err.Error(), "cache folder") {
		t.Errorf("LoadOrTrain without a cache folder: %v", err)
	}
}

// TestLoadOrTrainRefusesBadCache: a corrupt cached file, or one holding
// another configuration, is an error naming it (never retrained over).
func TestLoadOrTrainRefusesBadCache(t *testing.T) {
	b := backend.MustShared()
	dir := t.TempDir()
	path := CachePath(dir, "mnist", DefaultConfig())
	if err := os.WriteFile(path, []byte("not a classifier"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrTrain(b, "mnist", dir, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadOrTrain with a corrupt cache file: %v", err)
	}
	if err := trainSmall(t, smallConfig).Save(path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrTrain(b, "mnist", dir, nil); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("LoadOrTrain with another configuration in the cache: %v", err)
	}
	if got, want := filepath.Base(path), "classifier-mnist-"; !strings.HasPrefix(got, want) || got == filepath.Base(CachePath(dir, "fashion-mnist", DefaultConfig())) {
		t.Errorf("cache file name %q: want a %q prefix and a name that differs per dataset", got, want)
	}
}

// noiseImages returns n images of independent N(0, 1) pixels clipped to
// [−1, 1]: what an untrained generator whose output is clipped produces.
func noiseImages(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	px := make([]float32, n*InputSize)
	for i := range px {
		px[i] = float32(max(-1, min(1, rng.NormFloat64())))
	}
	return px
}

// classImages returns the images of set with label class.
func classImages(set *mnist.Set, class uint8) []float32 {
	var px []float32
	for i, l := range set.Labels {
		if l == class {
			px = append(px, set.Image(i)...)
		}
	}
	return px
}

// TestTrainedClassifiers trains the default classifier on MNIST and on
// Fashion-MNIST through LoadOrTrain (about a minute each on 2 cores) and
// checks:
//
//   - test accuracy ≥ 98% (MNIST) and ≥ 88% (Fashion-MNIST): what an MLP of
//     this size reaches (a PyTorch MLP 784-512-256-10 trained the same way
//     reached 98.2% on MNIST here);
//   - a second LoadOrTrain loads the cached file and predicts identically;
//   - in its feature space, real test images are much closer to real train
//     images than to Gaussian noise images or than one class is to another.
//
// Skipped with -short.
func TestTrainedClassifiers(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two classifiers on 60,000 images each (about a minute each on 2 cores); skipped with -short")
	}
	b := backend.MustShared()
	for _, tc := range []struct {
		dataset string
		minAcc  float64
		classA  uint8
		classB  uint8
	}{
		{"mnist", 0.98, 4, 9},
		{"fashion-mnist", 0.88, 2, 4}, // pullover vs coat
	} {
		t.Run(tc.dataset, func(t *testing.T) {
			test := loadSet(t, tc.dataset, "test")
			train := loadSet(t, tc.dataset, "train")
			dir := t.TempDir()
			var log bytes.Buffer
			start := time.Now()
			c, loaded, err := LoadOrTrain(b, tc.dataset, dir, &log)
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			acc, err := c.Accuracy(b, test)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: trained in %.1f s (%s); test accuracy %.2f%%", tc.dataset, took.Seconds(), c.Config, 100*acc)
			if loaded || !strings.Contains(log.String(), "classifier: trained "+tc.dataset) {
				t.Errorf("first LoadOrTrain: loaded = %v, log %q; want a training", loaded, log.String())
			}
			if acc < tc.minAcc {
				t.Errorf("test accuracy %.4f < %.2f", acc, tc.minAcc)
			}
			if c.TestAccuracy != acc {
				t.Errorf("TestAccuracy = %g, Accuracy(test) = %g", c.TestAccuracy, acc)
			}

			log.Reset()
			again, loaded, err := LoadOrTrain(b, tc.dataset, dir, &log)
			if err != nil || !loaded || !strings.Contains(log.String(), "classifier: loaded "+tc.dataset) {
				t.Fatalf("second LoadOrTrain: loaded = %v, %v, log %q; want loaded", loaded, err, log.String())
			}
			p1, _ := c.Predict(b, test.Pixels)
			p2, err := again.Predict(b, test.Pixels)
			if err != nil || !slices.Equal(p1, p2) {
				t.Errorf("the cached classifier predicts differently (%v)", err)
			}

			featureSpaceChecks(t, c, train, test, tc.classA, tc.classB)
		})
	}
}

// featureSpaceChecks prints and checks the classifier-based Fréchet
// distance and KID between real test images and (a) real train images,
// (b) Gaussian noise images, (c) at ~1000 images, one class against
// another. Independent samples of one distribution score about 0 in KID
// and a small FD (its bias), so (a) must be far below (b) and (c).
func featureSpaceChecks(t *testing.T, c *Classifier, train, test *mnist.Set, classA, classB uint8) {
	b := backend.MustShared()
	const n, kidSubsets = 10000, 20
	realTrain := train.Subset(n).Pixels
	score := func(what string, x, y []float32, kidSubsetSize int) Scores {
		t.Helper()
		s, err := c.Compare(b, x, y, kidSubsets, kidSubsetSize)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", what, s)
		return s
	}
	trainVsTest := score("train vs test", test.Pixels, realTrain, 1000)
	noiseVsTest := score("Gaussian noise vs test", test.Pixels, noiseImages(n, 1), 1000)
	// About 1000 images per class: compare with train vs test at that size
	// (the Fréchet distance's bias grows as the samples shrink).
	small := score("1000 train vs 1000 test", test.Subset(1000).Pixels, train.Subset(1000).Pixels, 500)
	classes := score("test class "+string('0'+classA)+" vs test class "+string('0'+classB), classImages(test, classA), classImages(test, classB), 500)

	if !(noiseVsTest.FD > 100*trainVsTest.FD) || !(noiseVsTest.KID > 100*math.Max(trainVsTest.KID, trainVsTest.KIDStd)) {
		t.Errorf("noise is not far from the test images compared with the train images: %v vs %v", noiseVsTest, trainVsTest)
	}
	if !(classes.FD > 10*small.FD) || !(classes.KID > 10*math.Max(small.KID, small.KIDStd)) {
		t.Errorf("two classes are not far apart compared with train vs test at the same size: %v vs %v", classes, small)
	}
	// The Fréchet distance computed directly from the features agrees with Compare.
	ft, err1 := c.Features(b, test.Pixels)
	fr, err2 := c.Features(b, realTrain)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if fd, err := metrics.FrechetDistance(ft, fr); err != nil || fd != trainVsTest.FD {
		t.Errorf("FrechetDistance on Features = %g, %v; Compare gave %g", fd, err, trainVsTest.FD)
	}
}
