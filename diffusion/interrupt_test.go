package diffusion

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// sameCheckpoints fails unless a and b hold the same step, losses, sampler
// state and variables (weights, Adam moments, EMA, step counter, random
// state), bit for bit.
func sameCheckpoints(t *testing.T, what string, a, b *Checkpoint) {
	t.Helper()
	if a.Step != b.Step {
		t.Errorf("%s: step %d vs %d", what, a.Step, b.Step)
	}
	if !slices.Equal(a.Losses, b.Losses) {
		t.Errorf("%s: the loss histories differ", what)
	}
	if string(a.SamplerState) != string(b.SamplerState) {
		t.Errorf("%s: timestep-sampler states differ:\n%s\n%s", what, a.SamplerState, b.SamplerState)
	}
	if len(a.Variables) != len(b.Variables) {
		t.Errorf("%s: %d vs %d variables", what, len(a.Variables), len(b.Variables))
	}
	for name, ta := range a.Variables {
		if tb, ok := b.Variables[name]; !ok || !ta.Equal(tb) {
			t.Errorf("%s: variable %s differs", what, name)
		}
	}
}

// TestInterruptAndResume closes RunOptions.Stop during step k: Run must
// finish that step, write the checkpoint of the state after it and return
// ErrInterrupted; a new trainer restored from it and run to N steps must
// equal an uninterrupted N-step run bit for bit (weights, Adam moments, EMA,
// random state, timestep sampler, losses). A Stop channel that is never
// closed changes nothing, and one closed during the last step lets the run
// complete.
func TestInterruptAndResume(t *testing.T) {
	for _, sampler := range []string{"uniform", "loss-aware"} {
		t.Run(sampler, func(t *testing.T) {
			const n, k = 20, 7
			data := toyBatches{}
			newTrainer := func() *Trainer {
				tr := smallMLPTrainer(t, sampler)
				if sampler == "loss-aware" { // leave the uniform warm-up early
					tr.sampler.(*LossAwareSampler).History = 1
				}
				return tr
			}
			dir := t.TempDir()

			full := newTrainer()
			fullPath := filepath.Join(dir, "full.ckpt")
			never := make(chan struct{}) // a Stop that is never closed changes nothing
			if err := full.Run(data, RunOptions{Steps: n, BatchSize: 32, CheckpointPath: fullPath, CheckpointEvery: 5, Stop: never}); err != nil {
				t.Fatal(err)
			}
			want, err := ReadCheckpoint(fullPath)
			if err != nil {
				t.Fatal(err)
			}
			if want.Step != n {
				t.Fatalf("uninterrupted run's checkpoint at step %d, want %d", want.Step, n)
			}
			plain := newTrainer() // nor does a nil one, the default
			if err := plain.Run(data, RunOptions{Steps: n, BatchSize: 32}); err != nil {
				t.Fatal(err)
			}
			plainCk, err := plain.Checkpoint(nil)
			if err != nil {
				t.Fatal(err)
			}
			sameCheckpoints(t, "Stop nil vs never closed", want, plainCk)

			path := filepath.Join(dir, "model.ckpt")
			// (close is shadowed in this package's tests: a context closes the channel.)
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			first := newTrainer()
			var after []int64
			err = first.Run(data, RunOptions{Steps: n, BatchSize: 32, CheckpointPath: path, CheckpointEvery: 5, Stop: ctx.Done(),
				OnStep: func(step int64, _ StepResult) {
					after = append(after, step)
					if step == k {
						stop()
					}
				}})
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("interrupted Run: error %v, want ErrInterrupted", err)
			}
			if first.Steps() != k || len(after) != k {
				t.Fatalf("interrupted at step %d after %d steps, want %d", first.Steps(), len(after), k)
			}
			ck, err := ReadCheckpoint(path)
			if err != nil {
				t.Fatal(err)
			}
			if ck.Step != k {
				t.Fatalf("checkpoint written at the interrupt is at step %d, want %d", ck.Step, k)
			}
			live, err := first.Checkpoint(nil)
			if err != nil {
				t.Fatal(err)
			}
			sameCheckpoints(t, "checkpoint on disk vs the interrupted trainer", live, ck)

			second := newTrainer()
			if err := second.Restore(ck); err != nil {
				t.Fatal(err)
			}
			if err := second.Run(data, RunOptions{Steps: n, BatchSize: 32, CheckpointPath: path, CheckpointEvery: 5}); err != nil {
				t.Fatal(err)
			}
			got, err := ReadCheckpoint(path)
			if err != nil {
				t.Fatal(err)
			}
			sameCheckpoints(t, "uninterrupted vs interrupted and resumed", want, got)
			if !hasRandomState(want) {
				t.Errorf("the checkpoint holds no random-number generator state; variables: %v", slices.Sorted(maps.Keys(want.Variables)))
			}

			// Stop closed during the last step: the run is complete.
			last := newTrainer()
			ctx2, stop2 := context.WithCancel(context.Background())
			defer stop2()
			lastPath := filepath.Join(dir, "last.ckpt")
			err = last.Run(data, RunOptions{Steps: n, BatchSize: 32, CheckpointPath: lastPath, Stop: ctx2.Done(),
				OnStep: func(step int64, _ StepResult) {
					if step == n {
						stop2()
					}
				}})
			if err != nil {
				t.Fatalf("Stop closed during the last step: error %v, want nil (training complete)", err)
			}
			lastCk, err := ReadCheckpoint(lastPath)
			if err != nil {
				t.Fatal(err)
			}
			sameCheckpoints(t, "uninterrupted vs stopped during the last step", want, lastCk)
		})
	}
}

// hasRandomState reports whether a checkpoint holds the store's
// random-number generator state.
func hasRandomState(c *Checkpoint) bool {
	_, ok := c.Variables[model.JoinPath("/", model.RNGStateVariableName)]
	return ok
}

// TestSampleInterrupt closes SampleOptions.Stop during sampling: Run stops
// after the step in progress with ErrInterrupted and no result, and a Stop
// that is never closed changes nothing.
func TestSampleInterrupt(t *testing.T) {
	s := mustSchedule(t, "linear", 100)
	p := mustProcess(t, s)
	m := p.Model(GaussianOptimalDenoiser(s, 0.5, 0.4))
	ref, err := Sample(tb(), model.NewStore(), m, DDIM{Steps: 20}, 64, []int{2}, SampleOptions{Seed: 3, BatchSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	never := make(chan struct{})
	same, err := Sample(tb(), model.NewStore(), m, DDIM{Steps: 20}, 64, []int{2}, SampleOptions{Seed: 3, BatchSize: 32, Stop: never})
	if err != nil {
		t.Fatal(err)
	}
	if !ref.Equal(same) {
		t.Errorf("a Stop that is never closed changed the samples")
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	steps := 0
	res, err := Run(tb(), model.NewStore(), m, DDIM{Steps: 20}, 64, []int{2}, SampleOptions{Seed: 3, BatchSize: 32, Stop: ctx.Done(),
		OnStep: func(batch, k int, _ float64, _, _ *tensors.Tensor) {
			steps++
			if batch == 0 && k == 4 {
				stop()
			}
		}})
	if !errors.Is(err, ErrInterrupted) || res != nil {
		t.Fatalf("interrupted sampling returned %v, %v; want no result and ErrInterrupted", res, err)
	}
	if steps != 5 {
		t.Errorf("sampling took %d steps after the stop at step 5, want 5", steps)
	}
}
