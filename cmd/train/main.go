// Command train trains a diffusion model and writes a checkpoint.
//
//	go run ./cmd/train --dataset gaussians8 --timesteps 1000 --batch-size 256 --steps 3000 --out out/gaussians8
//	go run ./cmd/train --dataset mnist --timesteps 1000 --batch-size 64 --steps 5000 --out out/mnist
//	go run ./cmd/train --dataset gaussians8 --objective score --sde vp --steps 3000 --out out/g8-score
//	go run ./cmd/train --dataset mnist --stage autoencoder --steps 600 --out out/ae
//	go run ./cmd/train --dataset mnist --latent out/ae --class-cond --steps 2000 --out out/ldm --export out/mnist-ldm.ckpt
//	go run ./cmd/train --dataset mnist --stage clip --steps 1500 --out out/clip
//	go run ./cmd/train --dataset mnist --latent out/ae --text out/clip --steps 4000 --out out/t2i --export out/mnist-t2i.ckpt
//	go run ./cmd/train --dataset gaussians8 --model vae --steps 3000 --out out/g8-vae
//	go run ./cmd/train --dataset mnist --model gan --steps 5000 --out out/mnist-gan
//
// --model vae and --model gan train, instead of a diffusion model, the
// baselines it is compared with (the stages "vae" and "gan" of
// experiment.Config; --stage vae and --stage gan are the same): a VAE
// (package vae: an MLP VAE with a Gaussian decoder of learned variance for
// the 2-D sets, a convolutional one with the discretised Gaussian decoder
// for mnist and fashion-mnist; its loss is the negative ELBO, reported as
// its terms reconstruction and kl) or a GAN (package gan: non-saturating
// loss with the R1 penalty, both players in one simultaneous Adam step
// with β₁ = 0.5, β₂ = 0.99; terms discriminator, generator and r1), with
// experiment.DefaultVAE or DefaultGAN for the dataset. They take --dataset,
// --batch-size, --lr, --warmup, --weight-decay, --grad-clip, --ema,
// --ema-decays, --seed, --train-images, and --latent-dim (VAE: dimension
// of z) or --r1-gamma (GAN: γ of the penalty); the diffusion flags
// (--precision and --grad-checkpoint among them), --latent and --text are
// refused.
// Their checkpoints resume, export, sample (cmd/sample) and evaluate
// (cmd/eval) like a diffusion model's; loss.png then draws each term in its
// own panel.
// Latent diffusion takes two runs. --stage autoencoder trains the
// autoencoder of package latent on the dataset's images (a KL-regularised
// one, 28×28×1 → 7×7×4; --plain for the plain autoencoder of the ablation,
// --kl-weight, --latent-channels), reporting the reconstruction error (mse,
// per pixel) and the KL (nats per image) beside the loss; at the end it
// encodes the training images, measures the latent scale factor s = 1/std
// (stored in the checkpoint) and caches the latents beside the checkpoint
// (latents-train.ckpt). --stage autoencoder takes only --dataset,
// --batch-size, --lr, --warmup, --weight-decay, --grad-clip, --ema, --seed
// and --train-images. --latent DIR then trains a diffusion model (the
// "latent" UNet by default, any --unet-config, --class-cond, every DDPM
// flag) on s·μ(x) of the training images under the autoencoder in DIR, whose
// SHA-256 it records: resuming, sampling or evaluating with another file
// there is refused with both hashes named. --export of a latent model writes
// one sampling file with the autoencoder's weights inside. --train-images N
// trains on the first N training images only.
//
// Text to image takes one more run. --stage clip trains a mini-CLIP (package
// clip: a small image encoder and a transformer text encoder, trained
// contrastively by symmetric InfoNCE with a learned temperature) on the
// dataset's images, each with a fresh caption at every draw, made from its
// label and its measured thickness, slant and size (package
// tutorial/captions; MNIST only), tokenised by a word-level tokenizer
// trained on the captions and stored in the checkpoint. It takes the same
// flags as --stage autoencoder, without the autoencoder's. --latent DIR
// --text CLIP then trains a text-conditional latent model (the "latent-text"
// UNet, whose transformer blocks cross-attend to the prompt's tokens) with
// the CLIP's text encoder copied in and frozen, the caption replaced by the
// empty prompt (the null condition) for a share --p-uncond of the examples
// (default 0.1); it records the CLIP's SHA-256, and --export bundles the
// autoencoder and the CLIP (for cmd/eval's CLIP score) with it.
//
// --class-cond makes the model class-conditional on the dataset's labels
// (gaussians8: the mode, label k at angle kπ/4; moons: the moon; mnist and
// fashion-mnist: the class; emoji and emoji-32, the colour emoji at 64×64
// and 32×32, downloaded on first use: the category, one of nine), with the
// label replaced by the null label ∅ for
// a share --p-uncond of the examples (default 0.1), so that cmd/sample can
// apply classifier-free guidance (--guidance).
//
// --objective ddpm (the default) trains a denoiser on the discrete process
// (--timesteps, --schedule, --prediction, --loss, --variance,
// --timestep-sampler). --objective score trains a score model s_θ(x, t) by
// denoising score matching in continuous time under the SDE chosen with --sde
// (vp, the default, subvp or ve); the DDPM-only flags are then refused. The
// network (MLP or UNet) is used as a noise predictor, s_θ = −ε_θ/σ(t) (see
// score.NoisePredictorModel).
//
// Efficient training. --precision bf16 or f16 trains a DDPM diffusion
// model (pixel, latent or text-conditional, MLP or UNet) in mixed
// precision: the network computes in bfloat16 or float16 while the master
// weights, Adam's moments and the EMAs stay float32 (diffusion.TrainConfig
// Precision); f16 adds dynamic loss scaling (the loss is multiplied by a
// scale S, from 2¹⁶, before differentiating; a step whose gradients
// overflow is skipped and S halves; S doubles after 2,000 clean steps),
// shown in the progress bar (scale, skipped) and, when steps were skipped,
// in the summary. It is refused for --objective score and the stages
// (autoencoder, CLIP, VAE, GAN), which train in float32. --grad-checkpoint
// recomputes each UNet or MLP block's activations in the backward pass
// (less memory, more time; the same variables, and the same gradients up
// to the order of a few additions). --ema-decays 0.99,0.9999 keeps extra
// EMAs of the weights beside --ema's, which cmd/sample and cmd/eval pick
// with --ema-decay. The checkpoint's configuration records all three: a
// resumed run keeps its precision and extra EMAs (another --precision or
// --ema-decays is refused like any other changed flag), while
// --grad-checkpoint may be switched on resume (without the flag the stored
// setting is kept).
//
// UNet ablations (notebook 6). --time-embedding linear feeds the UNet's time
// MLP the scalar t/T instead of the sinusoidal embedding; --no-attention
// removes its self-attention blocks. The configuration records both (a
// resumed run keeps them); they are refused for the MLP, and respectively
// for --objective score and for text-conditional models.
//
// Beside loss.png, loss.csv holds the loss of every step ("step,loss"; not
// with --loss-csv=false). --resume on a run already at --steps trains
// nothing: with --export it exports, otherwise it writes loss.csv alone.
//
// Each dataset has its defaults (experiment.Default): an MLP for the 2-D sets,
// the "small" UNet for mnist and fashion-mnist; flags given explicitly
// override them.
//
// The checkpoint (DIR/model.ckpt) holds the configuration, the weights, their
// EMA, the optimiser state and the random state; it is rewritten atomically
// every --checkpoint-every steps and at the end. --resume continues a run
// exactly where it stopped, after checking that the flags given agree with the
// checkpoint's configuration. A NaN or Inf loss stops training with an error
// and leaves the last checkpoint untouched.
//
// The first Ctrl-C (SIGINT) or SIGTERM finishes the step in progress, writes
// the checkpoint, prints the step reached and the exact command that resumes
// the run (the same arguments plus --resume, quoted for the shell) and exits
// with status 130; the resumed run ends exactly where the uninterrupted one
// would have. A second Ctrl-C aborts at once, leaving the previous checkpoint
// (a checkpoint is never left half-written). Other errors exit with status 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/gan"
	"github.com/godiffusion/diffusion-models/internal/interrupt"
	"github.com/godiffusion/diffusion-models/internal/memcheck"
	"github.com/godiffusion/diffusion-models/latent"
	"github.com/godiffusion/diffusion-models/schedules"
	"github.com/godiffusion/diffusion-models/text"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
	"github.com/godiffusion/diffusion-models/unet"
	"github.com/godiffusion/diffusion-models/vae"
)

// CheckpointName is the checkpoint's file name inside --out.
const CheckpointName = "model.ckpt"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(interrupt.ExitStatus(err)) // 130 for an interrupt, else 1
	}
}

// onStep, if set, is called after every training step (tests use it to
// deliver signals at a known step).
var onStep func(step int64)

// resumeCommand is the shell command that resumes an interrupted run of
// cmd/train with args: the same program and arguments, plus --resume unless
// they already resume.
func resumeCommand(args []string) string {
	resumes := false
	for _, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || name != "resume" {
			continue
		}
		resumes = true
		if hasVal {
			resumes, _ = strconv.ParseBool(val)
		}
	}
	out := slices.Clone(args)
	if !resumes {
		out = append(out, "--resume")
	}
	return interrupt.Command(interrupt.Program("train"), out)
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d2, di := experiment.Default2D("gaussians8"), experiment.DefaultImages("mnist")
	var f experiment.Config
	fs.StringVar(&f.Dataset, "dataset", d2.Dataset, "training data: "+strings.Join(experiment.Datasets(), ", "))
	fs.StringVar(&f.Objective, "objective", "ddpm", "training objective: ddpm (denoiser on the discrete process) or score (denoising score matching under --sde)")
	fs.StringVar(&f.SDE, "sde", "", "forward SDE of --objective score: vp, subvp or ve (default vp)")
	fs.IntVar(&f.Timesteps, "timesteps", d2.Timesteps, "number of diffusion steps T")
	fs.StringVar(&f.Schedule, "schedule", d2.Schedule, "noise schedule: "+strings.Join(schedules.Names(), ", ")+" (suffix +zero-snr rescales)")
	fs.StringVar(&f.Prediction, "prediction", d2.Prediction, "model output: eps, x0 or v")
	fs.StringVar(&f.Loss, "loss", d2.Loss, "objective: simple, hybrid (learned variance) or vlb")
	fs.StringVar(&f.Variance, "variance", "", "variance of p(x_{t-1}|x_t): small, large or learned (default: learned for hybrid, else small)")
	fs.StringVar(&f.Model, "model", d2.Model, "network: mlp (2-D data) or unet (images; the default for mnist and fashion-mnist); vae or gan train a VAE or a GAN instead of a diffusion model (the same as --stage vae or gan)")
	fs.StringVar(&f.UNet, "unet-config", di.UNet, "UNet configuration: "+strings.Join(unet.UNetConfigNames(), ", "))
	fs.StringVar(&f.TimeEmbedding, "time-embedding", "", "UNet time embedding: sinusoidal (the default of every --unet-config) or linear (the scalar t/T, the ablation of notebook 6)")
	fs.BoolVar(&f.NoAttention, "no-attention", false, "remove the UNet's self-attention blocks (the ablation of notebook 6); not for text-conditional models")
	fs.IntVar(&f.MLP.Hidden, "hidden", 128, "MLP width")
	fs.IntVar(&f.MLP.Blocks, "blocks", 3, "MLP residual blocks")
	fs.StringVar(&f.MLP.Activation, "activation", "relu", "MLP activation: relu or silu")
	fs.IntVar(&f.BatchSize, "batch-size", d2.BatchSize, fmt.Sprintf("examples per step (default %d for images)", di.BatchSize))
	fs.Float64Var(&f.LearningRate, "lr", d2.LearningRate, fmt.Sprintf("Adam learning rate (default %g for images, %g for score models on 2-D data)", di.LearningRate, experiment.ScoreLearningRate2D))
	fs.IntVar(&f.WarmupSteps, "warmup", d2.WarmupSteps, fmt.Sprintf("learning-rate warm-up steps (default %d for images)", di.WarmupSteps))
	fs.Float64Var(&f.WeightDecay, "weight-decay", d2.WeightDecay, "AdamW decoupled weight decay (0: Adam)")
	fs.Float64Var(&f.GradClip, "grad-clip", d2.GradClip, fmt.Sprintf("clip the global gradient norm, 0: off (default %g for images)", di.GradClip))
	fs.Float64Var(&f.EMA, "ema", d2.EMA, fmt.Sprintf("EMA decay of the weights, 0: off (default %g for images)", di.EMA))
	fs.StringVar(&f.TimestepSampler, "timestep-sampler", d2.TimestepSampler, "uniform or loss-aware")
	fs.BoolVar(&f.ClassCond, "class-cond", false, "condition the model on the dataset's class labels (gaussians8: 8 modes, moons: 2, mnist and fashion-mnist: 10), for guided sampling")
	fs.Float64Var(&f.PUncond, "p-uncond", experiment.DefaultPUncond, "with --class-cond: probability of training an example with the null label ∅, so that the model also learns the unconditional ε for classifier-free guidance")
	fs.Int64Var(&f.Seed, "seed", d2.Seed, "random seed")
	fs.IntVar(&f.TrainImages, "train-images", 0, "images: train on the first N images of the training split only (0: all)")
	fs.StringVar(&f.Precision, "precision", diffusion.PrecisionF32, "arithmetic of the training steps: f32, bf16 (mixed precision: the network in bfloat16, float32 master weights) or f16 (float16, with dynamic loss scaling); bf16 and f16 for --objective ddpm diffusion models only")
	fs.BoolVar(&f.GradCheckpoint, "grad-checkpoint", false, "gradient checkpointing: recompute each UNet or MLP block's activations in the backward pass instead of keeping them (less memory, more time; the same weights' names, so --resume may switch it); diffusion models only")
	fs.Func("ema-decays", "extra EMAs of the weights beside --ema's, comma-separated decays such as 0.99,0.9999 (sampled with cmd/sample and cmd/eval --ema-decay); not for --stage autoencoder or clip", func(v string) error {
		ds, err := parseDecays(v)
		f.EMADecays = ds
		return err
	})
	steps := fs.Int64("steps", 3000, "total optimisation steps")
	out := fs.String("out", "", "output folder (required)")
	resume := fs.Bool("resume", false, "continue the run in --out (Ctrl-C during training finishes the step, writes the checkpoint and prints the command that resumes it)")
	every := fs.Int64("checkpoint-every", 1000, "write a checkpoint every N steps (0: only at the end)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	export := fs.String("export", "", "also write a sampling-only checkpoint (EMA weights, no optimizer state; a latent model's with its autoencoder) to this file; with --resume at --steps, only export")
	lossCSV := fs.Bool("loss-csv", true, "write the loss of every step to loss.csv in --out (step,loss), beside loss.png; with --resume at --steps, write only that file")
	exportRaw := fs.Bool("export-raw", false, "with --export: write the raw weights of the last step instead of their EMA (a short GAN run's EMA lags far behind its generator)")
	fs.StringVar(&f.Stage, "stage", "", "autoencoder: train the autoencoder of latent diffusion on --dataset's images instead of a diffusion model; clip: train the mini-CLIP (image and text encoders) of text-to-image models on the captioned images; vae, gan: as --model vae or gan")
	fs.StringVar(&f.Latent, "latent", "", "train a latent diffusion model in the latent space of this autoencoder (a --stage autoencoder output folder or its model.ckpt)")
	fs.StringVar(&f.Text, "text", "", "with --latent: a text-conditional model, conditioned on captions through the (frozen) text encoder of this CLIP (a --stage clip output folder or its model.ckpt)")
	var ae latent.Config
	fs.Float64Var(&ae.KLWeight, "kl-weight", latent.DefaultKLWeight, "--stage autoencoder: weight of the KL term")
	fs.BoolVar(&ae.Plain, "plain", false, "--stage autoencoder: a plain autoencoder (no KL term, no sampling; the ablation)")
	fs.IntVar(&ae.LatentChannels, "latent-channels", 4, "--stage autoencoder: channels of the latent")
	var vc vae.Config
	var gc gan.Config
	fs.IntVar(&vc.LatentDim, "latent-dim", 0, "--model vae: dimension of the latent z (default 2 for 2-D data, 16 for images)")
	fs.Float64Var(&gc.R1Gamma, "r1-gamma", 0, "--model gan: γ of the R1 penalty γ/2·‖∇D(x)‖² on real data (default 0.1 for 2-D data, 10 for images; 0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if !slices.Contains(experiment.Precisions(), f.Precision) {
		return fmt.Errorf("--precision %q: want %s", f.Precision, strings.Join(experiment.Precisions(), ", "))
	}
	if *out == "" {
		return errors.New("--out is required (the folder that receives model.ckpt)")
	}
	if *exportRaw && *export == "" {
		return errors.New("--export-raw chooses the weights that --export writes; give --export FILE too")
	}
	if *steps <= 0 {
		return fmt.Errorf("--steps must be > 0, got %d", *steps)
	}
	ckptPath := filepath.Join(*out, CheckpointName)
	// --model vae or gan names a stage: its flag then counts as --stage.
	if isStageModel(f.Model) {
		if f.Stage != "" && f.Stage != f.Model {
			return fmt.Errorf("--model %s and --stage %s: choose one (--model %s trains a %s)", f.Model, f.Stage, f.Model, strings.ToUpper(f.Model))
		}
		f.Stage = f.Model
	}
	visit := func(fn func(*flag.Flag)) {
		fs.Visit(func(fl *flag.Flag) {
			if fl.Name == "model" && isStageModel(f.Model) {
				fl = fs.Lookup("stage")
			}
			fn(fl)
		})
	}
	given := map[string]bool{}
	visit(func(fl *flag.Flag) { given[fl.Name] = true })
	f.Autoencoder = &ae
	f.VAE, f.GAN = &vc, &gc

	// The configuration: the dataset's defaults (or, with --resume, the
	// checkpoint's), overridden by the flags given explicitly.
	var restored *diffusion.Checkpoint
	var c experiment.Config
	if *resume {
		ck, err := diffusion.ReadCheckpoint(ckptPath)
		if err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		if c, err = experiment.FromJSON(ck.Config); err != nil {
			return fmt.Errorf("--resume: %s: %w", ckptPath, err)
		}
		saved := c
		var conflicts []string
		visit(func(fl *flag.Flag) {
			field := flagField(fl.Name)
			if field == "" || fl.Name == "grad-checkpoint" { // it may change: see below
				return
			}
			given := applyFlag(c, f, fl.Name)
			for _, line := range experiment.Diff(saved, given) {
				if strings.HasPrefix(line, field+":") {
					conflicts = append(conflicts, "--"+fl.Name+" ("+line+")")
				}
			}
		})
		if len(conflicts) > 0 {
			return fmt.Errorf("--resume: the flags disagree with the checkpoint's configuration in %s: %s (checkpoint vs flag)",
				ckptPath, strings.Join(conflicts, "; "))
		}
		// --grad-checkpoint changes how the gradients are computed (memory
		// against time), not the model: a resumed run may switch it, and the
		// checkpoints record the new setting. Without the flag the stored
		// one is kept.
		if given["grad-checkpoint"] {
			if c.Stage != "" {
				return fmt.Errorf("--grad-checkpoint applies to the UNet and MLP of diffusion models; %s holds a --stage %s run", ckptPath, c.Stage)
			}
			c.GradCheckpoint = f.GradCheckpoint
		}
		if ck.Step >= *steps {
			if *export != "" {
				return exportSampling(stdout, ck, *export, *exportRaw)
			}
			if len(ck.Losses) > 0 && *lossCSV {
				// Nothing to train: only the loss history is written, for
				// runs trained before cmd/train wrote it.
				path := filepath.Join(*out, "loss.csv")
				if err := writeLossCSV(path, ck.Losses); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "the checkpoint is already at step %d; loss history %s\n", ck.Step, path)
				return nil
			}
			return fmt.Errorf("--resume: the checkpoint is already at step %d ≥ --steps %d", ck.Step, *steps)
		}
		restored = ck
	} else {
		if _, err := os.Stat(ckptPath); err == nil {
			return fmt.Errorf("%s already exists: pass --resume to continue it, or choose another --out", ckptPath)
		}
		switch {
		case f.Stage != "" && f.Stage != experiment.StageAutoencoder && f.Stage != experiment.StageCLIP && !isStageModel(f.Stage):
			return fmt.Errorf("--stage %q: the stages are %q, %q, %q and %q (omit --stage for a diffusion model)", f.Stage,
				experiment.StageAutoencoder, experiment.StageCLIP, experiment.StageVAE, experiment.StageGAN)
		case isStageModel(f.Stage) && (f.Latent != "" || f.Text != ""):
			return fmt.Errorf("--model %s and --latent or --text: a %s is trained on the data itself; --latent (with --text for prompts) trains a diffusion model on an autoencoder's latents", f.Stage, strings.ToUpper(f.Stage))
		case isStageModel(f.Stage):
			takes := "--dataset, --batch-size, --lr, --warmup, --weight-decay, --grad-clip, --ema, --ema-decays, --seed, --train-images and "
			if f.Stage == experiment.StageVAE {
				if err := stageFlags(visit, "vae", vaeFields, takes+"--latent-dim"); err != nil {
					return err
				}
				c = experiment.DefaultVAE(f.Dataset)
			} else {
				if err := stageFlags(visit, "gan", ganFields, takes+"--r1-gamma"); err != nil {
					return err
				}
				c = experiment.DefaultGAN(f.Dataset)
			}
		case f.Stage != "" && (f.Latent != "" || f.Text != ""):
			return fmt.Errorf("--stage %s and --latent or --text: the stages train on images; --latent (with --text for prompts) trains a diffusion model on an autoencoder's latents", f.Stage)
		case f.Text != "" && f.Latent == "":
			return errors.New("--text needs --latent: text-conditional models are latent diffusion models (train an autoencoder with --stage autoencoder first)")
		case f.Stage == experiment.StageCLIP:
			if err := stageFlags(visit, "clip", clipFields, "--dataset, --batch-size, --lr, --warmup, --weight-decay, --grad-clip, --ema, --seed and --train-images"); err != nil {
				return err
			}
			var err error
			if c, err = experiment.DefaultCLIP(f.Dataset); err != nil {
				return fmt.Errorf("--stage clip: %w", err)
			}
		case f.Stage != "":
			if err := stageFlags(visit, "autoencoder", autoencoderFields, "--dataset, --batch-size, --lr, --warmup, --weight-decay, --grad-clip, --ema, --seed, --train-images, --kl-weight, --plain and --latent-channels"); err != nil {
				return err
			}
			c = experiment.DefaultAutoencoder(f.Dataset)
		case f.Text != "":
			var err error
			if c, err = experiment.NewText(f.Dataset, f.Latent, f.Text); err != nil {
				return fmt.Errorf("--latent %s --text %s: %w", f.Latent, f.Text, err)
			}
		case f.Latent != "":
			var err error
			if c, err = experiment.NewLatent(f.Dataset, f.Latent); err != nil {
				return fmt.Errorf("--latent: %w", err)
			}
		default:
			c = experiment.Default(f.Dataset)
			for _, name := range []string{"kl-weight", "plain", "latent-channels"} {
				if given[name] {
					return fmt.Errorf("--%s applies to --stage autoencoder only", name)
				}
			}
			for name, model := range map[string]string{"latent-dim": "vae", "r1-gamma": "gan"} {
				if given[name] {
					return fmt.Errorf("--%s applies to --model %s only", name, model)
				}
			}
		}
		visit(func(fl *flag.Flag) { c = applyFlag(c, f, fl.Name) })
		pUncondGiven := false
		visit(func(fl *flag.Flag) { pUncondGiven = pUncondGiven || fl.Name == "p-uncond" })
		// Refused here, not left to Config.Validate, which names the JSON
		// field (class_cond) and lets --p-uncond 0 through.
		if pUncondGiven && !c.ClassCond && !c.IsText() {
			return fmt.Errorf("--p-uncond %g applies to class- and text-conditional models only: add --class-cond, or --text", f.PUncond)
		}
		if c.ClassCond && c.IsText() {
			return errors.New("--class-cond and --text: a text-conditional model is conditioned on captions, which name the class")
		}
		if c.ClassCond || c.IsText() {
			c.PUncond = f.PUncond // the flag's value, or its default DefaultPUncond
		}
		if c.IsScore() {
			var ddpmOnly []string
			visit(func(fl *flag.Flag) {
				if slices.Contains(experiment.DDPMOnlyFields(), flagField(fl.Name)) {
					ddpmOnly = append(ddpmOnly, "--"+fl.Name)
				}
			})
			if len(ddpmOnly) > 0 {
				return fmt.Errorf("%s: only for --objective ddpm; --objective score trains in continuous time under --sde",
					strings.Join(ddpmOnly, ", "))
			}
			if c.IsMixedPrecision() {
				return fmt.Errorf("--precision %s: mixed precision is for --objective ddpm; the score objective's trainer (denoising score matching) trains in float32", c.Precision)
			}
			c = c.WithScore(c.SDE)
			lrGiven := false
			visit(func(fl *flag.Flag) { lrGiven = lrGiven || fl.Name == "lr" })
			if !lrGiven && !c.IsImage() {
				c.LearningRate = experiment.ScoreLearningRate2D
			}
		} else if c.SDE != "" {
			return fmt.Errorf("--sde %s needs --objective score (the ddpm objective uses --schedule and --timesteps)", c.SDE)
		}
	}

	if err := c.Validate(); err != nil {
		return err
	}
	if *export != "" && c.IsAutoencoder() {
		return errors.New("--export writes a diffusion model's sampling file; an autoencoder is used through --latent")
	}
	if *export != "" && c.IsCLIP() {
		return errors.New("--export writes a diffusion model's sampling file; a CLIP is used through --text (and bundled into the text-conditional model's export)")
	}
	backend.Log = stderr
	b, err := backend.New()
	if err != nil {
		return err
	}
	var progressW io.Writer = stderr
	if *quiet {
		progressW = nil
	}
	data, err := c.TrainingData(b, progressW)
	if err != nil {
		return err
	}
	tr, err := c.NewTrainer(b)
	if err != nil {
		return err
	}
	if restored != nil {
		if err := tr.Restore(restored); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "train: resuming %s at step %d\n", ckptPath, restored.Step)
	}
	// Refused before any graph runs: a batch that cannot fit would otherwise
	// end the process in the middle of the first step.
	if err := memcheck.Check(b, fmt.Sprintf("a training step on a batch of %d", c.BatchSize), "--batch-size", c.BatchSize,
		func(n int) (float64, error) { return tr.StepMemory(data, n) }); err != nil {
		return err
	}
	objective := fmt.Sprintf("T=%d %s schedule, %s prediction, %s loss", c.Timesteps, c.Schedule, c.Prediction, c.Loss)
	if c.IsLatent() {
		d := c.DataDims()
		objective = fmt.Sprintf("in the %d×%d×%d latent space of %s (scale %.4g), ", d[0], d[1], d[2], experiment.AutoencoderFile(c.Latent), c.LatentScale) + objective
	}
	if c.IsScore() {
		objective = fmt.Sprintf("denoising score matching, %s SDE", c.SDE)
	}
	if c.ClassCond {
		objective += fmt.Sprintf(", conditional on %d classes (label dropped for %g of the examples)", c.Classes(), c.PUncond)
	}
	if c.IsText() {
		objective += fmt.Sprintf(", conditional on captions through the frozen text encoder of %s (%d-word vocabulary; prompt dropped for %g of the examples)",
			experiment.AutoencoderFile(c.Text), c.Tokenizer.VocabSize()-len(text.Specials), c.PUncond)
	}
	if c.IsAutoencoder() {
		a := c.Autoencoder.WithDefaults()
		in, lat := a.ImageDims(), a.LatentDims()
		kind := fmt.Sprintf("KL-regularised autoencoder (KL weight %g)", a.KLWeight)
		if a.Plain {
			kind = "plain autoencoder"
		}
		fmt.Fprintf(stderr, "train: %s, %s %d×%d×%d → %d×%d×%d, batch %d, lr %g, %d steps → %s\n",
			c.Dataset, kind, in[0], in[1], in[2], lat[0], lat[1], lat[2], c.BatchSize, c.LearningRate, *steps, ckptPath)
	} else if c.IsCLIP() {
		cc := c.CLIP.WithDefaults()
		fmt.Fprintf(stderr, "train: %s, mini-CLIP (%d parameters: image encoder, and a %d-layer text encoder over a %d-word vocabulary), symmetric InfoNCE, batch %d, lr %g, %d steps → %s\n",
			c.Dataset, cc.NumParams(), cc.Text.WithDefaults().Layers, c.Tokenizer.VocabSize()-len(text.Specials), c.BatchSize, c.LearningRate, *steps, ckptPath)
	} else if c.IsBaseline() {
		fmt.Fprintf(stderr, "train: %s, %s%s, batch %d, lr %g, %d steps → %s\n",
			c.Dataset, baselineDesc(c), efficiency(c), c.BatchSize, c.LearningRate, *steps, ckptPath)
	} else {
		fmt.Fprintf(stderr, "train: %s, %s model, %s%s, batch %d, lr %g, %d steps → %s\n",
			c.Dataset, c.Model+parenthesised(c.Ablations()), objective, efficiency(c), c.BatchSize, c.LearningRate, *steps, ckptPath)
	}
	start := time.Now()
	startStep := tr.Steps()
	cfgJSON := c.JSON()
	// The first SIGINT or SIGTERM finishes the step in progress and writes
	// the checkpoint; the second ends the process at once (the checkpoint is
	// written atomically, so the previous one is then left in place).
	var reached atomic.Int64 // the last step completed
	reached.Store(startStep)
	var skipped int64     // f16 steps of this run skipped for overflowing gradients
	var lossScale float64 // the loss scale of the last step (f16)
	stop, release := interrupt.Watch(func(sig os.Signal) {
		nl := ""
		if progressW != nil {
			nl = "\n" // off the progress bar's line
		}
		fmt.Fprintf(stderr, "%strain: %v: finishing step %d and writing the checkpoint (press Ctrl-C again to abort at once)\n",
			nl, sig, reached.Load()+1)
	})
	defer release()
	err = tr.Run(data, diffusion.RunOptions{
		Steps: *steps, BatchSize: c.BatchSize, Config: cfgJSON, Progress: progressW,
		CheckpointPath: ckptPath, CheckpointEvery: *every, Stop: stop,
		OnStep: func(step int64, r diffusion.StepResult) {
			if r.Skipped {
				skipped++
			}
			lossScale = r.LossScale
			if onStep != nil {
				onStep(step) // a signal it sends arrives during this step
			}
			reached.Store(step)
		},
	})
	release()
	if errors.Is(err, diffusion.ErrInterrupted) {
		return &interrupt.Error{Msg: fmt.Sprintf("interrupted at step %d of %d; checkpoint %s; to resume, run:\n  %s",
			tr.Steps(), *steps, ckptPath, resumeCommand(args))}
	}
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "trained %d steps in %s (%.1f steps/s); checkpoint %s\n",
		tr.Steps()-startStep, el.Round(time.Millisecond), float64(tr.Steps()-startStep)/el.Seconds(), ckptPath)
	if skipped > 0 {
		fmt.Fprintf(stdout, "f16: %d of the %d steps skipped (their gradients overflowed float16; weights, Adam's moments and EMAs unchanged); the last step's loss scale %g\n",
			skipped, tr.Steps()-startStep, lossScale)
	}
	if names := tr.TermNames(); len(names) > 0 {
		fmt.Fprintf(stdout, "last %d steps: %s\n", min(100, len(tr.TermHistory()[0])), termMeans(tr, names))
	}
	if c.IsAutoencoder() {
		start := time.Now()
		scale, err := experiment.FinishAutoencoder(b, ckptPath, progressW)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "latent scale factor %.4f (1/std of the training set's latents, measured in %s); latents cached in %s\n",
			scale, time.Since(start).Round(time.Millisecond), filepath.Join(*out, experiment.LatentCacheName))
	}
	if c.IsBaseline() {
		err = writeTermsPlot(filepath.Join(*out, "loss.png"), c, tr.Losses(), tr.TermNames(), tr.TermHistory(), startStep)
	} else {
		err = writeLossPlot(filepath.Join(*out, "loss.png"), tr.Losses())
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loss curve %s\n", filepath.Join(*out, "loss.png"))
	if *lossCSV {
		if err := writeLossCSV(filepath.Join(*out, "loss.csv"), tr.Losses()); err != nil {
			return err
		}
	}
	if *export != "" {
		ck, err := tr.Checkpoint(cfgJSON)
		if err != nil {
			return err
		}
		return exportSampling(stdout, ck, *export, *exportRaw)
	}
	return nil
}

// exportSampling writes the sampling-only form of a checkpoint: its EMA
// weights when present (the last step's with raw), or for a latent model the
// bundle with its autoencoder.
func exportSampling(stdout io.Writer, ck *diffusion.Checkpoint, path string, raw bool) error {
	c, err := experiment.FromJSON(ck.Config)
	if err != nil {
		return err
	}
	var s *diffusion.Checkpoint
	if c.IsLatent() {
		if raw {
			return errors.New("--export-raw: a latent model's export bundles its EMA weights with the autoencoder; sample the training run's raw weights with cmd/sample --no-ema instead")
		}
		s, err = experiment.Bundle(ck)
	} else {
		s, err = diffusion.ForSampling(ck, diffusion.HasEMA(ck) && !raw)
	}
	if err != nil {
		return err
	}
	if err := diffusion.WriteCheckpoint(path, s); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sampling checkpoint (step %d, %d weight tensors) %s\n", s.Step, len(s.Variables), path)
	return nil
}

// flagField maps a flag name to the JSON name of the Config field it sets
// ("" for flags that are not part of the configuration).
func flagField(flagName string) string {
	switch flagName {
	case "steps", "out", "resume", "checkpoint-every", "quiet", "export", "export-raw", "loss-csv":
		return ""
	case "batch-size":
		return "batch_size"
	case "warmup":
		return "warmup_steps"
	case "weight-decay":
		return "weight_decay"
	case "grad-clip":
		return "grad_clip"
	case "timestep-sampler":
		return "timestep_sampler"
	case "class-cond":
		return "class_cond"
	case "train-images":
		return "train_images"
	case "p-uncond":
		return "p_uncond"
	case "grad-checkpoint":
		return "grad_checkpoint"
	case "ema-decays":
		return "ema_decays"
	case "unet-config":
		return "unet"
	case "time-embedding":
		return "time_embedding"
	case "no-attention":
		return "no_attention"
	case "hidden", "blocks", "activation":
		return "mlp"
	case "kl-weight", "plain", "latent-channels":
		return "autoencoder"
	case "latent-dim":
		return "vae"
	case "r1-gamma":
		return "gan"
	}
	return flagName
}

// stageFlags refuses the flags given (those visit visits) that set a
// configuration field outside fields, which --stage stage takes (listed in
// takes, for the message).
func stageFlags(visit func(func(*flag.Flag)), stage string, fields []string, takes string) error {
	var not []string
	visit(func(fl *flag.Flag) {
		if field := flagField(fl.Name); field != "" && !slices.Contains(fields, field) {
			not = append(not, "--"+fl.Name)
		}
	})
	if len(not) > 0 {
		opt := "--stage"
		if isStageModel(stage) {
			opt = "--model"
		}
		return fmt.Errorf("%s: not for %s %s, which takes %s", strings.Join(not, ", "), opt, stage, takes)
	}
	return nil
}

// clipFields are the configuration fields that --stage clip takes.
var clipFields = []string{"dataset", "stage", "batch_size", "lr", "warmup_steps", "weight_decay", "grad_clip", "ema", "seed", "train_images"}

// vaeFields and ganFields are the configuration fields that --model vae
// and --model gan take.
var (
	vaeFields = []string{"dataset", "stage", "batch_size", "lr", "warmup_steps", "weight_decay", "grad_clip", "ema", "ema_decays", "seed", "train_images", "vae"}
	ganFields = []string{"dataset", "stage", "batch_size", "lr", "warmup_steps", "weight_decay", "grad_clip", "ema", "ema_decays", "seed", "train_images", "gan"}
)

// isStageModel reports whether a --model value names a stage (vae, gan)
// rather than a diffusion network.
func isStageModel(m string) bool { return m == experiment.StageVAE || m == experiment.StageGAN }

// baselineDesc describes a VAE or GAN run's model for the first line.
func baselineDesc(c experiment.Config) string {
	if c.IsVAE() {
		v := c.VAE.WithDefaults()
		dec := "Gaussian decoder with a learned variance"
		if v.Kind == vae.KindConv {
			dec = "discretised Gaussian decoder"
		} else if v.DecoderStd > 0 {
			dec = fmt.Sprintf("Gaussian decoder with σ = %g", v.DecoderStd)
		}
		return fmt.Sprintf("VAE (%s, %d-D latent, %s), negative ELBO", v.Kind, v.LatentDim, dec)
	}
	g := c.GAN.WithDefaults()
	return fmt.Sprintf("GAN (%s, %d-D noise), non-saturating loss with R1 γ = %g, Adam β₁ = %g", g.Kind, g.NoiseDim, g.R1Gamma, c.Beta1)
}

// autoencoderFields are the configuration fields that --stage autoencoder takes.
var autoencoderFields = []string{"dataset", "stage", "batch_size", "lr", "warmup_steps", "weight_decay", "grad_clip", "ema", "seed", "autoencoder", "train_images"}

// parseDecays parses --ema-decays: comma-separated decays, returned in
// increasing order (so that a resumed run given them in another order
// agrees with its checkpoint); "" is none. Their range is checked by
// experiment.Config.Validate.
func parseDecays(v string) ([]float64, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var ds []float64
	for _, part := range strings.Split(v, ",") {
		d, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a decay (want comma-separated numbers in (0, 1), such as 0.99,0.9999)", part)
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds, nil
}

// efficiency describes, for the first line, the settings of Precision,
// GradCheckpoint and EMADecays ("" when none is set).
func efficiency(c experiment.Config) string {
	var parts []string
	switch c.Precision {
	case diffusion.PrecisionBF16:
		parts = append(parts, "bf16 mixed precision")
	case diffusion.PrecisionF16:
		parts = append(parts, fmt.Sprintf("f16 mixed precision (loss scale from %d)", diffusion.DefaultLossScale))
	}
	if c.GradCheckpoint {
		parts = append(parts, "gradient checkpointing")
	}
	if len(c.EMADecays) > 0 {
		ds := make([]string, len(c.EMADecays))
		for i, d := range c.EMADecays {
			ds[i] = strconv.FormatFloat(d, 'g', -1, 64)
		}
		parts = append(parts, "extra EMAs "+strings.Join(ds, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return ", " + strings.Join(parts, ", ")
}

// termMeans formats the means of a trainer's reported terms over its last
// 100 steps (or fewer).
func termMeans(tr *diffusion.Trainer, names []string) string {
	hist := tr.TermHistory()
	var parts []string
	for i, name := range names {
		h := hist[i]
		k := min(100, len(h))
		var m float64
		for _, v := range h[len(h)-k:] {
			m += v
		}
		parts = append(parts, fmt.Sprintf("%s %.5g", name, m/float64(k)))
	}
	return strings.Join(parts, ", ")
}

// parenthesised returns " (s)", or "" for an empty s.
func parenthesised(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// applyFlag returns c with the field of one explicitly given flag set from f.
func applyFlag(c, f experiment.Config, flagName string) experiment.Config {
	switch flagName {
	case "dataset":
		c.Dataset = f.Dataset
	case "objective":
		c.Objective = f.Objective
		if c.Objective == "ddpm" {
			c.Objective = "" // the configuration's spelling of the default objective
		}
	case "sde":
		c.SDE = f.SDE
	case "timesteps":
		c.Timesteps = f.Timesteps
	case "schedule":
		c.Schedule = f.Schedule
	case "prediction":
		c.Prediction = f.Prediction
	case "loss":
		c.Loss = f.Loss
	case "variance":
		c.Variance = f.Variance
	case "model":
		c.Model = f.Model
	case "latent-dim":
		if c.VAE != nil {
			v := *c.VAE
			v.LatentDim = f.VAE.LatentDim
			c.VAE = &v
		}
	case "r1-gamma":
		if c.GAN != nil {
			g := *c.GAN
			g.R1Gamma = f.GAN.R1Gamma
			c.GAN = &g
		}
	case "unet-config":
		c.UNet = f.UNet
	case "time-embedding":
		c.TimeEmbedding = f.TimeEmbedding
	case "no-attention":
		c.NoAttention = f.NoAttention
	case "hidden":
		c.MLP.Hidden = f.MLP.Hidden
	case "blocks":
		c.MLP.Blocks = f.MLP.Blocks
	case "activation":
		c.MLP.Activation = f.MLP.Activation
	case "batch-size":
		c.BatchSize = f.BatchSize
	case "lr":
		c.LearningRate = f.LearningRate
	case "warmup":
		c.WarmupSteps = f.WarmupSteps
	case "weight-decay":
		c.WeightDecay = f.WeightDecay
	case "grad-clip":
		c.GradClip = f.GradClip
	case "ema":
		c.EMA = f.EMA
	case "timestep-sampler":
		c.TimestepSampler = f.TimestepSampler
	case "class-cond":
		c.ClassCond = f.ClassCond
	case "p-uncond":
		c.PUncond = f.PUncond
	case "seed":
		c.Seed = f.Seed
	case "train-images":
		c.TrainImages = f.TrainImages
	case "precision":
		c.Precision = f.Precision
		if c.Precision == diffusion.PrecisionF32 {
			c.Precision = "" // the configuration's spelling of float32
		}
	case "grad-checkpoint":
		c.GradCheckpoint = f.GradCheckpoint
	case "ema-decays":
		c.EMADecays = slices.Clone(f.EMADecays)
	case "stage":
		c.Stage = f.Stage
	case "latent":
		c.Latent = f.Latent
	case "text":
		c.Text = f.Text
	case "kl-weight", "plain", "latent-channels":
		if c.Autoencoder == nil {
			return c
		}
		a := *c.Autoencoder
		switch flagName {
		case "kl-weight":
			a.KLWeight = f.Autoencoder.KLWeight
		case "plain":
			a.Plain = f.Autoencoder.Plain
			if a.Plain {
				a.KLWeight = 0
			}
		case "latent-channels":
			a.LatentChannels = f.Autoencoder.LatentChannels
		}
		c.Autoencoder = &a
	}
	return c
}

// writeLossCSV writes the loss of every step, "step,loss" then one line per
// step from 1, atomically as loss.png is written.
func writeLossCSV(path string, losses []float64) error {
	if len(losses) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("step,loss\n")
	for i, l := range losses {
		fmt.Fprintf(&b, "%d,%.6g\n", i+1, l)
	}
	return plots.WriteFileAtomic(path, []byte(b.String()))
}

// writeLossPlot draws the training loss and its running mean.
func writeLossPlot(path string, losses []float64) error {
	if len(losses) == 0 {
		return nil
	}
	x := make([]float64, len(losses))
	smooth := make([]float64, len(losses))
	var m float64
	for i, l := range losses {
		x[i] = float64(i + 1)
		if i == 0 {
			m = l
		} else {
			m = 0.98*m + 0.02*l
		}
		smooth[i] = m
	}
	png, err := plots.LinesPNG([]plots.Series{{Name: "loss", X: x, Y: losses}, {Name: "running mean", X: x, Y: smooth}},
		plots.Options{Title: "training loss", XLabel: "step", YLabel: "loss", LogY: true})
	if err != nil {
		return err
	}
	return plots.WriteFileAtomic(path, png)
}

// writeTermsPlot draws the training of a VAE or GAN: for a VAE the loss
// (the negative ELBO's one-sample estimate, in nats) and each term, for a
// GAN each term only (the sum of the players' losses means nothing), each
// in its own panel with its running mean, on linear axes (a density's
// reconstruction term can be negative). The loss covers every step; the
// terms, which checkpoints do not keep, the steps of this run (from
// startStep + 1 on).
func writeTermsPlot(path string, c experiment.Config, losses []float64, names []string, hist [][]float64, startStep int64) error {
	var panels []plots.Panel
	panel := func(title string, first int64, y []float64) {
		if len(y) == 0 {
			return
		}
		x := make([]float64, len(y))
		smooth := make([]float64, len(y))
		var m float64
		for i, v := range y {
			x[i] = float64(first + int64(i) + 1)
			if i == 0 {
				m = v
			} else {
				m = 0.98*m + 0.02*v
			}
			smooth[i] = m
		}
		panels = append(panels, plots.Panel{Title: title, Lines: []plots.Series{{Name: "step", X: x, Y: y}, {Name: "running mean", X: x, Y: smooth}},
			Opts: plots.Options{XLabel: "step", YLabel: "nats per example"}})
	}
	if c.IsVAE() {
		panel("loss (−ELBO estimate)", 0, losses)
	}
	for i, name := range names {
		if i < len(hist) {
			panel(name, startStep, hist[i])
		}
	}
	if len(panels) == 0 {
		return nil
	}
	png, err := plots.GridPNG(panels, 0, 0, 0, 0)
	if err != nil {
		return err
	}
	return plots.WriteFileAtomic(path, png)
}
