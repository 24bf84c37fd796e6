package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
)

// TestTrainBaselines trains a tiny VAE and GAN on gaussians8 with --model
// vae and gan (their own flag each), checks the stage and that flag in the
// checkpoint, the terms printed and the loss plot, then resumes each run and
// exports its sampling file; resuming with the other --model is refused.
func TestTrainBaselines(t *testing.T) {
	for _, tc := range []struct {
		model, flag, val string
		terms            []string
	}{
		{"vae", "--latent-dim", "3", []string{"reconstruction ", "kl "}},
		{"gan", "--r1-gamma", "0.5", []string{"discriminator ", "generator ", "r1 "}},
	} {
		dir := filepath.Join(t.TempDir(), tc.model)
		out, err := train(t, "--dataset", "gaussians8", "--model", tc.model, tc.flag, tc.val, "--steps", "3", "--batch-size", "16", "--out", dir, "--quiet")
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.model, err, out)
		}
		for _, want := range tc.terms {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the output lacks the term %q:\n%s", tc.model, want, out)
			}
		}
		if st, err := os.Stat(filepath.Join(dir, "loss.png")); err != nil || st.Size() == 0 {
			t.Errorf("%s: no loss plot: %v", tc.model, err)
		}
		ck, err := diffusion.ReadCheckpoint(filepath.Join(dir, CheckpointName))
		if err != nil {
			t.Fatal(err)
		}
		c, err := experiment.FromJSON(ck.Config)
		if err != nil {
			t.Fatal(err)
		}
		if c.Stage != tc.model || c.Model != "" || c.BatchSize != 16 {
			t.Errorf("%s: stage %q, model %q, batch %d", tc.model, c.Stage, c.Model, c.BatchSize)
		}
		if (tc.model == "vae" && c.VAE.LatentDim != 3) || (tc.model == "gan" && c.GAN.R1Gamma != 0.5) {
			t.Errorf("%s: %s %s not recorded: %+v %+v", tc.model, tc.flag, tc.val, c.VAE, c.GAN)
		}
		other := map[string]string{"vae": "gan", "gan": "vae"}[tc.model]
		if _, err := train(t, "--out", dir, "--resume", "--steps", "5", "--model", other, "--quiet"); err == nil || !strings.Contains(err.Error(), "disagree") {
			t.Errorf("%s: resume with --model %s: %v", tc.model, other, err)
		}
		export := filepath.Join(dir, "sampling.ckpt")
		if out, err := train(t, "--out", dir, "--resume", "--steps", "5", "--model", tc.model, "--export", export, "--quiet"); err != nil {
			t.Fatalf("%s: resume: %v\n%s", tc.model, err, out)
		}
		ck, err = diffusion.ReadCheckpoint(filepath.Join(dir, CheckpointName))
		if err != nil || ck.Step != 5 || len(ck.Losses) != 5 {
			t.Errorf("%s: resumed checkpoint: %v, step %d, %d losses; want 5 and 5", tc.model, err, ck.Step, len(ck.Losses))
		}
		if s, err := diffusion.ReadCheckpoint(export); err != nil || s.Step != 5 || !s.WeightsAreEMA {
			t.Errorf("%s: export: %v", tc.model, err)
		}
	}
}

// TestTrainBaselineBadInput: each bad combination with --model vae or gan
// is refused with a message naming the problem, and nothing is written.
func TestTrainBaselineBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dataset", "emoji", "--model", "gan"}, "64×64×3"},
		{[]string{"--dataset", "spirals", "--model", "vae"}, `unknown dataset "spirals"`},
		{[]string{"--dataset", "mnist", "--model", "gan", "--latent", dir}, "--latent"},
		{[]string{"--model", "gan", "--timesteps", "50"}, "--timesteps: not for --model gan"},
		{[]string{"--model", "vae", "--class-cond"}, "--class-cond"},
		{[]string{"--model", "vae", "--r1-gamma", "1"}, "--r1-gamma"},
		{[]string{"--model", "gan", "--kl-weight", "1"}, "--kl-weight"},
		{[]string{"--r1-gamma", "1"}, "--model gan only"},
		{[]string{"--stage", "autoencoder", "--dataset", "mnist", "--latent-dim", "4"}, "--latent-dim"},
		{[]string{"--model", "vae", "--stage", "gan"}, "choose one"},
		{[]string{"--model", "transformer"}, `unknown model "transformer"`},
		{[]string{"--model", "vae", "--train-images", "10"}, "train_images"},
		{[]string{"--model", "gan", "--lr", "-1"}, "learning rate"},
	} {
		out := filepath.Join(dir, "out")
		_, err := train(t, append(tc.args, "--steps", "1", "--out", out, "--quiet")...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%v: %s was created", tc.args, out)
			os.RemoveAll(out)
		}
	}
}
