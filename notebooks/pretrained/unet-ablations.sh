#!/usr/bin/env bash
# unet-ablations.sh trains the "small" UNet on MNIST under one budget (STEPS
# steps of 64 images, default 1000) in three forms, for each of SEEDS
# (default "0 1 2"), and evaluates each the same way (FD and KID of SAMPLES
# samples, DPM-Solver++(2M) with 20 steps, EMA weights):
#
#   base     the "small" UNet as named: sinusoidal time embedding, attention
#            in the middle (7×7). The same command and seed as families.sh's
#            diffusion-s<seed>: when FAMILIES/diffusion-s<seed> exists (default
#            out/families) it is copied, not trained again.
#   linear   --time-embedding linear: the scalar t/T instead of sinusoids.
#   noattn   --no-attention: the middle AttentionBlock removed.
#
# It keeps, per run:
#
#   OUT/<variant>-s<seed>/            the training run (model.ckpt, loss.png, loss.csv)
#   OUT/<variant>-s<seed>.train.log   what cmd/train printed (its wall time)
#   OUT/<variant>-s<seed>.eval.log    what cmd/eval printed
#   OUT/<variant>-s<seed>.json        cmd/eval's figures (the last line of its output)
#   OUT/<variant>-s<seed>.loss.csv    the loss of every step
#
# A run whose model.ckpt exists is not trained again, an evaluation whose JSON
# exists is not run again. Notebook 6 reads the .json, .train.log and
# .loss.csv files that notebooks/pretrained/unet-ablations/ holds (copied
# there from a run of this script). Run it from the repository root:
#
#   bash notebooks/pretrained/unet-ablations.sh      # OUT=out/unet-ablations
#
# Every figure is on the pure-Go backend unless GOMLX_BACKEND says otherwise.
set -euo pipefail

OUT=${OUT:-out/unet-ablations}
FAMILIES=${FAMILIES:-out/families}
STEPS=${STEPS:-1000}
SEEDS=${SEEDS:-0 1 2}
VARIANTS=${VARIANTS:-base linear noattn}
SAMPLES=${SAMPLES:-1000}
export GOEXPERIMENT=simd

mkdir -p "$OUT" bin
go build -o bin/ ./cmd/train ./cmd/eval

for seed in $SEEDS; do
	for variant in $VARIANTS; do
		run="$OUT/$variant-s$seed"
		case $variant in
		base) flags=() ;;
		linear) flags=(--time-embedding linear) ;;
		noattn) flags=(--no-attention) ;;
		*)
			echo "unet-ablations.sh: unknown variant $variant (want base, linear or noattn)" >&2
			exit 2
			;;
		esac
		if [ ! -f "$run/model.ckpt" ] && [ "$variant" = base ] && [ -f "$FAMILIES/diffusion-s$seed/model.ckpt" ]; then
			cp -r "$FAMILIES/diffusion-s$seed" "$run"
			cp "$FAMILIES/diffusion-s$seed.train.log" "$run.train.log"
		fi
		if [ ! -f "$run/model.ckpt" ]; then
			bin/train --dataset mnist --model unet --batch-size 64 --steps "$STEPS" --seed "$seed" "${flags[@]}" \
				--quiet --out "$run" | tee "$run.train.log"
		fi
		# A run trained before cmd/train wrote loss.csv gets it from its checkpoint.
		[ -f "$run/loss.csv" ] || bin/train --resume --steps "$STEPS" --out "$run"
		cp "$run/loss.csv" "$run.loss.csv"
		[ -f "$run.json" ] && continue
		bin/eval --model-path "$run" --samples "$SAMPLES" --seed "$seed" --cache notebooks/pretrained --json --quiet \
			--num-examples 0 --sampler dpm++2m --sample-steps 20 | tee "$run.eval.log" | tail -n 1 >"$run.json.tmp"
		mv "$run.json.tmp" "$run.json"
	done
done
