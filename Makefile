# Diffusion Models in Go — build, test and demo targets.
#
# The pure-Go GoMLX backend multiplies matrices many times faster when Go is
# built with GOEXPERIMENT=simd (AVX2/AVX-512 kernels), so every target sets it.

export GOEXPERIMENT := simd
GO ?= go
# Tests run on the pure-Go backend; parallelism=-1 avoids a worker-pool
# deadlock of gomlx/compute v0.1.2 (see backend/backend.go).
TEST_BACKEND ?= go:parallelism=-1
DEMO_DIR ?= out/demo
DEMO_STEPS ?= 3000

.PHONY: all test vet fmt-check gotest demo build clean help

all: test

help:
	@echo "make demo   train a 2-D diffusion model on gaussians8 and sample it ($(DEMO_DIR)/)"
	@echo "make test   gofmt check, go vet and every Go test (what CI runs)"
	@echo "make build  build the commands into bin/"

## test: everything CI runs.
test: fmt-check vet gotest

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

gotest:
	GOMLX_BACKEND=$(TEST_BACKEND) $(GO) test -count=1 ./...

## demo: the main job — train, then sample.
demo:
	rm -rf $(DEMO_DIR)
	$(GO) run ./cmd/train --dataset gaussians8 --timesteps 1000 --batch-size 256 --steps $(DEMO_STEPS) --out $(DEMO_DIR)
	$(GO) run ./cmd/sample --model-path $(DEMO_DIR) --num-samples 2000 --sampler ddpm --out $(DEMO_DIR)/samples
	@echo "samples: $(DEMO_DIR)/samples.png and $(DEMO_DIR)/samples.csv; loss curve: $(DEMO_DIR)/loss.png"

build:
	$(GO) build -o bin/ ./cmd/...

clean:
	rm -rf bin out
