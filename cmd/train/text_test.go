package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// clipFlags train a tiny mini-CLIP on 64 MNIST images.
var clipFlags = []string{"--dataset", "mnist", "--stage", "clip", "--batch-size", "8", "--train-images", "64", "--quiet"}

func readCk(t *testing.T, path string) (*diffusion.Checkpoint, experiment.Config) {
	t.Helper()
	ck, err := diffusion.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := experiment.FromJSON(ck.Config)
	if err != nil {
		t.Fatal(err)
	}
	return ck, c
}

// clipTextWeights returns the text encoder's weights of the CLIP
// checkpoint at path as a text-conditional model must hold them: its
// sampling weights (the EMA when it has one) under /model/text/, moved to
// /model/text_encoder/.
func clipTextWeights(t *testing.T, path string) map[string]*tensors.Tensor {
	t.Helper()
	ck, _ := readCk(t, path)
	if !diffusion.HasEMA(ck) {
		t.Errorf("the CLIP %s has no EMA (its default is 0.999)", path)
	}
	s, err := diffusion.ForSampling(ck, diffusion.HasEMA(ck))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*tensors.Tensor{}
	for p, v := range s.Variables {
		if rest, ok := strings.CutPrefix(p, "/model/text/"); ok {
			out["/model/"+experiment.TextEncoderScope+"/"+rest] = v
		}
	}
	if len(out) == 0 {
		t.Fatalf("the CLIP %s has no /model/text/ weights", path)
	}
	return out
}

// checkTextEncoder checks that the variables of vars under prefix +
// /model/text_encoder/ are exactly want, bit for bit.
func checkTextEncoder(t *testing.T, what string, vars map[string]*tensors.Tensor, prefix string, want map[string]*tensors.Tensor) {
	t.Helper()
	got := map[string]*tensors.Tensor{}
	for p, v := range vars {
		if rest, ok := strings.CutPrefix(p, prefix); ok && strings.HasPrefix(rest, "/model/"+experiment.TextEncoderScope+"/") {
			got[rest] = v
		}
	}
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Errorf("%s: text encoder variables\n%q\nwant the CLIP's\n%q", what, g, w)
		return
	}
	for p, w := range want {
		a, b := tensors.MustCopyFlatData[float32](got[p]), tensors.MustCopyFlatData[float32](w)
		if !slices.Equal(a, b) || !slices.Equal(got[p].Shape().Dimensions, w.Shape().Dimensions) {
			t.Errorf("%s: %s differs from the CLIP's text encoder", what, p)
		}
	}
}

// TestTextPipeline runs the commands of text-to-image in miniature end to
// end: a mini-CLIP (--stage clip), an autoencoder, a text-conditional latent
// model on both (--latent --text) that records the CLIP's path and SHA-256
// and holds the CLIP's text encoder, unchanged by training (frozen: no
// optimiser state, no EMA), a resume, the export of a bundle with the
// autoencoder and the CLIP inside, and the refusal to resume once another
// CLIP sits in the folder.
func TestTextPipeline(t *testing.T) {
	dir := t.TempDir()
	clipDir := filepath.Join(dir, "clip")
	clipFile := filepath.Join(clipDir, CheckpointName)
	out, err := train(t, append([]string{"--steps", "3", "--out", clipDir}, clipFlags...)...)
	if err != nil {
		t.Fatalf("CLIP: %v\n%s", err, out)
	}
	if !strings.Contains(out, "mini-CLIP") {
		t.Errorf("the CLIP's output does not name it:\n%s", out)
	}
	ck, cc := readCk(t, clipFile)
	if !cc.IsCLIP() || cc.Tokenizer == nil || ck.Step != 3 || cc.TrainImages != 64 || cc.BatchSize != 8 {
		t.Fatalf("CLIP checkpoint: stage %q, tokenizer %v, step %d, train_images %d, batch %d", cc.Stage, cc.Tokenizer != nil, ck.Step, cc.TrainImages, cc.BatchSize)
	}
	clipText := clipTextWeights(t, clipFile)

	ae := filepath.Join(dir, "ae")
	if out, err := train(t, append([]string{"--steps", "2", "--out", ae}, aeFlags...)...); err != nil {
		t.Fatalf("autoencoder: %v\n%s", err, out)
	}

	ldm := filepath.Join(dir, "ldm")
	ldmFile := filepath.Join(ldm, CheckpointName)
	ldmArgs := []string{"--dataset", "mnist", "--latent", ae, "--text", clipDir, "--timesteps", "50", "--batch-size", "8", "--train-images", "64", "--quiet", "--out", ldm}
	out, err = train(t, append(ldmArgs, "--steps", "2")...)
	if err != nil {
		t.Fatalf("text model: %v\n%s", err, out)
	}
	if !strings.Contains(out, "conditional on captions") {
		t.Errorf("the text model's output does not say it is conditional on captions:\n%s", out)
	}
	ck2, lc := readCk(t, ldmFile)
	clipSHA := fileSHA(t, clipFile)
	if !lc.IsText() || lc.Text != clipDir || lc.TextSHA256 != clipSHA || lc.UNet != experiment.TextUNet || lc.PUncond != experiment.DefaultPUncond {
		t.Errorf("text model: IsText %v, text %q (want %q), text_sha256 %s (want %s), unet %q, p_uncond %v",
			lc.IsText(), lc.Text, clipDir, lc.TextSHA256, clipSHA, lc.UNet, lc.PUncond)
	}
	if lc.Tokenizer == nil || !slices.Equal(lc.Tokenizer.Vocab(), cc.Tokenizer.Vocab()) {
		t.Errorf("the text model's tokenizer is not its CLIP's")
	}
	checkTextEncoder(t, "after 2 steps", ck2.Variables, "", clipText)
	for p := range ck2.Variables {
		if strings.Contains(p, "/"+experiment.TextEncoderScope+"/") && !strings.HasPrefix(p, "/model/") {
			t.Errorf("the frozen text encoder has training state %s", p)
		}
	}

	// --class-cond with --text is refused, and nothing is written.
	bad := filepath.Join(dir, "bad")
	if _, err := train(t, "--dataset", "mnist", "--latent", ae, "--text", clipDir, "--class-cond", "--steps", "1", "--quiet", "--out", bad); err == nil ||
		!strings.Contains(err.Error(), "--class-cond and --text") {
		t.Errorf("--class-cond with --text: %v", err)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Errorf("the refused --class-cond run created %s", bad)
	}

	// Resume and export: the text encoder is still the CLIP's, while the
	// UNet trained on.
	bundle := filepath.Join(dir, "bundle.ckpt")
	if out, err := train(t, "--out", ldm, "--resume", "--steps", "4", "--export", bundle, "--quiet"); err != nil {
		t.Fatalf("resume and export: %v\n%s", err, out)
	}
	ck4, _ := readCk(t, ldmFile)
	if ck4.Step != 4 {
		t.Errorf("resumed to step %d, want 4", ck4.Step)
	}
	checkTextEncoder(t, "after resuming to step 4", ck4.Variables, "", clipText)
	changed := 0
	for p, v := range ck2.Variables {
		if strings.HasPrefix(p, "/model/") && !strings.HasPrefix(p, "/model/"+experiment.TextEncoderScope+"/") && v.DType().IsFloat() {
			if w, ok := ck4.Variables[p]; ok && !slices.Equal(tensors.MustCopyFlatData[float32](v), tensors.MustCopyFlatData[float32](w)) {
				changed++
			}
		}
	}
	if changed == 0 {
		t.Errorf("no UNet weight changed from step 2 to 4: the test of the frozen encoder proves nothing")
	}
	b, bc := readCk(t, bundle)
	if !bc.CLIPBundled || !bc.AutoencoderBundled || b.Step != 4 {
		t.Errorf("bundle: clip_bundled %v, autoencoder_bundled %v, step %d", bc.CLIPBundled, bc.AutoencoderBundled, b.Step)
	}
	counts := map[string]int{}
	for p := range b.Variables {
		for _, scope := range []string{"/" + experiment.CLIPBundleScope + "/model/", "/" + experiment.BundleScope + "/model/", "/optimizer/", "/ema/"} {
			if strings.HasPrefix(p, scope) {
				counts[scope]++
			}
		}
	}
	if counts["/clip/model/"] == 0 || counts["/autoencoder/model/"] == 0 || counts["/optimizer/"] != 0 || counts["/ema/"] != 0 {
		t.Errorf("bundle variables by scope: %v, want CLIP and autoencoder weights and no training state", counts)
	}
	checkTextEncoder(t, "the bundle", b.Variables, "", clipText)
	bundledText := map[string]*tensors.Tensor{}
	for p, v := range b.Variables {
		if rest, ok := strings.CutPrefix(p, "/clip/model/text/"); ok {
			bundledText["/model/"+experiment.TextEncoderScope+"/"+rest] = v
		}
	}
	checkTextEncoder(t, "the bundle's CLIP (/clip/model/text/)", map[string]*tensors.Tensor(bundledText), "", clipText)

	// Another CLIP in the folder: resuming is refused, naming both hashes,
	// and the checkpoint is left as it was.
	other := filepath.Join(dir, "other")
	if out, err := train(t, append([]string{"--steps", "2", "--seed", "7", "--out", other}, clipFlags...)...); err != nil {
		t.Fatalf("second CLIP: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(filepath.Join(other, CheckpointName))
	if err := os.WriteFile(clipFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got := fileSHA(t, clipFile)
	if got == clipSHA {
		t.Fatalf("the second CLIP is the same file as the first")
	}
	before, _ := os.ReadFile(ldmFile)
	_, err = train(t, "--out", ldm, "--resume", "--steps", "5", "--quiet")
	if err == nil || !strings.Contains(err.Error(), clipSHA) || !strings.Contains(err.Error(), got) {
		t.Errorf("resume with another CLIP: %v, want an error naming %s and %s", err, clipSHA, got)
	}
	after, _ := os.ReadFile(ldmFile)
	if string(before) != string(after) {
		t.Errorf("the refused resume changed the checkpoint")
	}
	if _, err := train(t, "--out", ldm, "--resume", "--steps", "4", "--export", filepath.Join(dir, "b2.ckpt"), "--quiet"); err == nil {
		t.Errorf("exporting with another CLIP in the folder: accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "b2.ckpt")); err == nil {
		t.Errorf("the refused export wrote its bundle")
	}
}

// TestTextBadInput: each bad combination of the text flags is refused with
// a message naming the problem, and nothing is written.
func TestTextBadInput(t *testing.T) {
	dir := t.TempDir()
	ae, clipDir := filepath.Join(dir, "ae"), filepath.Join(dir, "clip")
	// Neither folder needs to hold a trained model for these refusals,
	// except where the message comes from reading it: an autoencoder
	// stands in for a CLIP there.
	if out, err := train(t, append([]string{"--steps", "1", "--out", ae}, aeFlags...)...); err != nil {
		t.Fatalf("autoencoder: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--dataset", "mnist", "--text", clipDir}, []string{"--text needs --latent"}},
		{[]string{"--dataset", "mnist", "--stage", "clip", "--unet-config", "latent"}, []string{"--unet-config", "not for --stage clip"}},
		{[]string{"--dataset", "mnist", "--stage", "clip", "--timesteps", "50", "--class-cond"}, []string{"--timesteps", "--class-cond", "not for --stage clip"}},
		{[]string{"--dataset", "fashion-mnist", "--stage", "clip"}, []string{"--stage clip", "fashion-mnist", "no captions"}},
		{[]string{"--dataset", "moons", "--stage", "clip"}, []string{"moons", "no captions"}},
		{[]string{"--dataset", "mnist", "--stage", "clip", "--text", clipDir}, []string{"--stage clip", "--text"}},
		{[]string{"--dataset", "mnist", "--stage", "bogus"}, []string{`--stage "bogus"`, `"autoencoder"`, `"clip"`}},
		{[]string{"--dataset", "mnist", "--stage", "clip", "--export", filepath.Join(dir, "x.ckpt")}, []string{"--export", "CLIP"}},
		{[]string{"--dataset", "mnist", "--latent", ae, "--text", filepath.Join(dir, "nothing")}, []string{"--text", "missing"}},
		{[]string{"--dataset", "mnist", "--latent", ae, "--text", ae}, []string{"not a CLIP checkpoint"}},
	} {
		out := filepath.Join(dir, "out")
		_, err := train(t, append(tc.args, "--steps", "1", "--out", out, "--quiet")...)
		if err == nil {
			t.Errorf("%v: accepted", tc.args)
		} else {
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: error %q, want one containing %q", tc.args, err, w)
				}
			}
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%v: %s was created", tc.args, out)
			os.RemoveAll(out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.ckpt")); err == nil {
		t.Errorf("the refused --export wrote its file")
	}
}
