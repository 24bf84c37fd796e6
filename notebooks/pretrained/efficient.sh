#!/usr/bin/env bash
# efficient.sh makes the MNIST figures of notebook 9 (efficient training),
# all with the "small" UNet, 64 images per step, seed 0, and evaluated the
# same way (FD and KID of SAMPLES samples, DPM-Solver++(2M) with 20 steps):
#
#   ema     one run with --ema-decays 0.99,0.9999 beside the main EMA (0.999),
#           evaluated after 1,000 steps and again after resuming it to 3,000,
#           with each average and with the raw weights (--no-ema):
#             OUT/ema-<steps>-<raw|0.99|0.999|0.9999>.json
#   bf16    the same first 1,000 steps with --precision bf16, evaluated with
#           its EMA (compare ema-1000-0.999.json: the same run in float32):
#             OUT/bf16-1000.json
#
# plus each run's training log (OUT/<run>-<steps>.train.log, the wall time)
# and loss history (OUT/<run>-<steps>.loss.csv). Notebook 9 reads the .json,
# .train.log and .loss.csv files that notebooks/pretrained/efficient-mnist/
# holds (copied there from a run of this script). A step already done (a
# checkpoint at its step, a JSON file) is not done again. Run it from the
# repository root:
#
#   bash notebooks/pretrained/efficient.sh          # OUT=out/efficient
#
# Every figure is on the pure-Go backend unless GOMLX_BACKEND says otherwise.
set -euo pipefail

OUT=${OUT:-out/efficient}
SAMPLES=${SAMPLES:-1000}
export GOEXPERIMENT=simd

mkdir -p "$OUT" bin
go build -o bin/ ./cmd/train ./cmd/eval

# evaluate RUN NAME [eval flags...]: cmd/eval's figures of RUN into OUT/NAME.json.
evaluate() {
	local run=$1 name=$2
	shift 2
	[ -f "$OUT/$name.json" ] && return
	bin/eval --model-path "$run" --samples "$SAMPLES" --seed 0 --cache notebooks/pretrained --json --quiet \
		--num-examples 0 --sampler dpm++2m --sample-steps 20 "$@" | tee "$OUT/$name.eval.log" | tail -n 1 >"$OUT/$name.json.tmp"
	mv "$OUT/$name.json.tmp" "$OUT/$name.json"
}

# step RUN: the step of RUN's checkpoint (0 when there is none).
step() {
	if [ -f "$1/model.ckpt" ]; then
		head -c 4096 "$1/model.ckpt" | grep -ao '"step":[0-9]*' | head -n 1 | cut -d: -f2
	else
		echo 0
	fi
}

ema="$OUT/ema"
for steps in 1000 3000; do
	if [ "$(step "$ema")" -lt "$steps" ]; then
		if [ -f "$ema/model.ckpt" ]; then
			bin/train --resume --steps "$steps" --out "$ema" --quiet | tee "$OUT/ema-$steps.train.log"
		else
			bin/train --dataset mnist --model unet --batch-size 64 --steps "$steps" --seed 0 --ema-decays 0.99,0.9999 \
				--quiet --out "$ema" | tee "$OUT/ema-$steps.train.log"
		fi
	fi
	[ "$(step "$ema")" = "$steps" ] || { echo "efficient.sh: $ema is past step $steps; remove it to redo ema-$steps" >&2; exit 1; }
	# A run trained before cmd/train wrote loss.csv gets it from its checkpoint.
	[ -f "$ema/loss.csv" ] || bin/train --resume --steps "$steps" --out "$ema"
	cp "$ema/loss.csv" "$OUT/ema-$steps.loss.csv"
	evaluate "$ema" "ema-$steps-raw" --no-ema
	for d in 0.99 0.999 0.9999; do
		evaluate "$ema" "ema-$steps-$d" --ema-decay "$d"
	done
done

bf16="$OUT/bf16"
if [ "$(step "$bf16")" = 0 ]; then
	bin/train --dataset mnist --model unet --batch-size 64 --steps 1000 --seed 0 --precision bf16 \
		--quiet --out "$bf16" | tee "$OUT/bf16-1000.train.log"
fi
cp "$bf16/loss.csv" "$OUT/bf16-1000.loss.csv"
evaluate "$bf16" bf16-1000
