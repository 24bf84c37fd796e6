// Command train trains a diffusion model and writes a checkpoint.
//
//	go run ./cmd/train --dataset gaussians8 --timesteps 1000 --batch-size 256 --steps 3000 --out out/gaussians8
//
// The checkpoint (DIR/model.ckpt) holds the configuration, the weights, their
// EMA, the optimiser state and the random state; it is rewritten atomically
// every --checkpoint-every steps and at the end. --resume continues a run
// exactly where it stopped, after checking that the flags given agree with the
// checkpoint's configuration. A NaN or Inf loss stops training with an error
// and leaves the last checkpoint untouched.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/godiffusion/diffusion-models/backend"
	"github.com/godiffusion/diffusion-models/diffusion"
	"github.com/godiffusion/diffusion-models/schedules"
	"github.com/godiffusion/diffusion-models/tutorial/experiment"
	"github.com/godiffusion/diffusion-models/tutorial/plots"
)

// CheckpointName is the checkpoint's file name inside --out.
const CheckpointName = "model.ckpt"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := experiment.Default2D("gaussians8")
	c := def
	fs.StringVar(&c.Dataset, "dataset", def.Dataset, "training data: "+strings.Join(experiment.Datasets(), ", "))
	fs.IntVar(&c.Timesteps, "timesteps", def.Timesteps, "number of diffusion steps T")
	fs.StringVar(&c.Schedule, "schedule", def.Schedule, "noise schedule: "+strings.Join(schedules.Names(), ", ")+" (suffix +zero-snr rescales)")
	fs.StringVar(&c.Prediction, "prediction", def.Prediction, "model output: eps, x0 or v")
	fs.StringVar(&c.Loss, "loss", def.Loss, "objective: simple, hybrid (learned variance) or vlb")
	fs.StringVar(&c.Variance, "variance", def.Variance, "variance of p(x_{t-1}|x_t): small, large or learned (default: learned for hybrid, else small)")
	fs.StringVar(&c.Model, "model", def.Model, "network: mlp")
	fs.IntVar(&c.MLP.Hidden, "hidden", 128, "MLP width")
	fs.IntVar(&c.MLP.Blocks, "blocks", 3, "MLP residual blocks")
	fs.StringVar(&c.MLP.Activation, "activation", "relu", "MLP activation: relu or silu")
	fs.IntVar(&c.BatchSize, "batch-size", def.BatchSize, "examples per step")
	fs.Float64Var(&c.LearningRate, "lr", def.LearningRate, "Adam learning rate")
	fs.IntVar(&c.WarmupSteps, "warmup", def.WarmupSteps, "learning-rate warm-up steps")
	fs.Float64Var(&c.WeightDecay, "weight-decay", def.WeightDecay, "AdamW decoupled weight decay (0: Adam)")
	fs.Float64Var(&c.GradClip, "grad-clip", def.GradClip, "clip the global gradient norm (0: off)")
	fs.Float64Var(&c.EMA, "ema", def.EMA, "EMA decay of the weights (0: off)")
	fs.StringVar(&c.TimestepSampler, "timestep-sampler", def.TimestepSampler, "uniform or loss-aware")
	fs.Int64Var(&c.Seed, "seed", def.Seed, "random seed")
	steps := fs.Int64("steps", 3000, "total optimisation steps")
	out := fs.String("out", "", "output folder (required)")
	resume := fs.Bool("resume", false, "continue the run in --out")
	every := fs.Int64("checkpoint-every", 1000, "write a checkpoint every N steps (0: only at the end)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *out == "" {
		return errors.New("--out is required (the folder that receives model.ckpt)")
	}
	if *steps <= 0 {
		return fmt.Errorf("--steps must be > 0, got %d", *steps)
	}
	ckptPath := filepath.Join(*out, CheckpointName)

	var restored *diffusion.Checkpoint
	if *resume {
		ck, err := diffusion.ReadCheckpoint(ckptPath)
		if err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
		saved, err := experiment.FromJSON(ck.Config)
		if err != nil {
			return fmt.Errorf("--resume: %s: %w", ckptPath, err)
		}
		// Flags given explicitly must agree with the checkpoint; the others are taken from it.
		given := c
		c = saved
		var conflicts []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "steps", "out", "resume", "checkpoint-every", "quiet":
				return
			}
			if d := experiment.Diff(given, saved); len(d) > 0 {
				for _, line := range d {
					if strings.HasPrefix(line, flagField(f.Name)+":") {
						conflicts = append(conflicts, "--"+f.Name+" ("+line+")")
					}
				}
			}
		})
		if len(conflicts) > 0 {
			return fmt.Errorf("--resume: the flags disagree with the checkpoint's configuration in %s: %s (flag vs checkpoint)",
				ckptPath, strings.Join(conflicts, "; "))
		}
		if ck.Step >= *steps {
			return fmt.Errorf("--resume: the checkpoint is already at step %d ≥ --steps %d", ck.Step, *steps)
		}
		restored = ck
	} else if _, err := os.Stat(ckptPath); err == nil {
		return fmt.Errorf("%s already exists: pass --resume to continue it, or choose another --out", ckptPath)
	}

	p, den, tc, err := c.Build()
	if err != nil {
		return err
	}
	data, err := c.Data()
	if err != nil {
		return err
	}
	backend.Log = stderr
	b, err := backend.New()
	if err != nil {
		return err
	}
	tr, err := diffusion.NewTrainer(b, p, den, tc)
	if err != nil {
		return err
	}
	if restored != nil {
		if err := tr.Restore(restored); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "train: resuming %s at step %d\n", ckptPath, restored.Step)
	}
	fmt.Fprintf(stderr, "train: %s, T=%d %s schedule, %s prediction, %s loss, batch %d, %d steps → %s\n",
		c.Dataset, c.Timesteps, c.Schedule, c.Prediction, c.Loss, c.BatchSize, *steps, ckptPath)

	var progressW io.Writer = stderr
	if *quiet {
		progressW = nil
	}
	start := time.Now()
	startStep := tr.Steps()
	cfgJSON := c.JSON()
	err = tr.Run(data, diffusion.RunOptions{
		Steps: *steps, BatchSize: c.BatchSize, Config: cfgJSON, Progress: progressW,
		CheckpointPath: ckptPath, CheckpointEvery: *every,
	})
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "trained %d steps in %s (%.1f steps/s); checkpoint %s\n",
		tr.Steps()-startStep, el.Round(time.Millisecond), float64(tr.Steps()-startStep)/el.Seconds(), ckptPath)
	if err := writeLossPlot(filepath.Join(*out, "loss.png"), tr.Losses()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loss curve %s\n", filepath.Join(*out, "loss.png"))
	return nil
}

// flagField maps a flag name to the JSON name of the Config field it sets.
func flagField(flagName string) string {
	switch flagName {
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
	case "hidden", "blocks", "activation":
		return "mlp"
	}
	return flagName
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
