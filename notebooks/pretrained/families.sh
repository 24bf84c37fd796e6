#!/usr/bin/env bash
# families.sh trains a diffusion model, a VAE and a GAN on MNIST with the same
# budget (STEPS steps of 64 images, default 1000) for each of SEEDS (default
# "0 1 2"), evaluates each with cmd/eval --json, and keeps the logs:
#
#   OUT/<family>-s<seed>/          the training run (model.ckpt, loss.png)
#   OUT/<family>-s<seed>.train.log what cmd/train printed (its wall time)
#   OUT/<family>-s<seed>.eval.log  what cmd/eval printed
#   OUT/<family>-s<seed>.json      cmd/eval's figures (the last line of its output)
#   OUT/gan-raw-s<seed>.json       the GAN's figures with its raw weights (--no-ema):
#                                  at this budget the EMA of a GAN's generator lags
#                                  far behind it (notebook 10, section 7)
#
# A run whose model.ckpt exists is not trained again, an evaluation whose JSON
# exists is not run again. Every model is scored on SAMPLES samples (FD, KID);
# the VAE's −ELBO and the diffusion model's bound are taken on the first
# EXAMPLES test images, the diffusion bound only for the seeds in BOUND_SEEDS
# (default "0": it costs about 1,000 network passes per image, 7 minutes on two
# CPU cores). Notebook 10 reads the .json and .train.log files that
# notebooks/pretrained/families-mnist/ holds (copied there from a run of this
# script) and the seed-0 checkpoints exported beside it (see README.md there).
# Run it from the repository root:
#
#   bash notebooks/pretrained/families.sh            # OUT=out/families
#
# Every figure is on the pure-Go backend unless GOMLX_BACKEND says otherwise.
set -euo pipefail

OUT=${OUT:-out/families}
STEPS=${STEPS:-1000}
SEEDS=${SEEDS:-0 1 2}
SAMPLES=${SAMPLES:-1000}
EXAMPLES=${EXAMPLES:-50}
BOUND_SEEDS=${BOUND_SEEDS:-0}
export GOEXPERIMENT=simd

mkdir -p "$OUT" bin
go build -o bin/ ./cmd/train ./cmd/eval

for seed in $SEEDS; do
	for family in diffusion vae gan; do
		run="$OUT/$family-s$seed"
		model=$family
		[ "$family" = diffusion ] && model=unet
		if [ ! -f "$run/model.ckpt" ]; then
			bin/train --dataset mnist --model "$model" --batch-size 64 --steps "$STEPS" --seed "$seed" \
				--quiet --out "$run" | tee "$run.train.log"
		fi
		[ -f "$run.json" ] && continue
		args=(--model-path "$run" --samples "$SAMPLES" --seed "$seed" --cache notebooks/pretrained --json --quiet)
		case $family in
		diffusion)
			n=0
			[[ " $BOUND_SEEDS " == *" $seed "* ]] && n=$EXAMPLES
			args+=(--num-examples "$n" --sampler dpm++2m --sample-steps 20)
			;;
		vae) args+=(--num-examples "$EXAMPLES") ;;
		esac
		bin/eval "${args[@]}" | tee "$run.eval.log" | tail -n 1 >"$run.json.tmp"
		mv "$run.json.tmp" "$run.json"
	done
	raw="$OUT/gan-raw-s$seed"
	if [ ! -f "$raw.json" ]; then
		bin/eval --model-path "$OUT/gan-s$seed" --no-ema --samples "$SAMPLES" --seed "$seed" --cache notebooks/pretrained \
			--json --quiet | tee "$raw.eval.log" | tail -n 1 >"$raw.json.tmp"
		mv "$raw.json.tmp" "$raw.json"
	fi
done
