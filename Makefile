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
# Notebooks in reading order, and the Python that has nbclient (set by jupyter-setup).
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
JUPYTER_PY := .tools/python

.PHONY: all test vet fmt-check lint builds tools gotest fuzz notebooks-test notebooks jupyter jupyter-setup demo bench build clean help

all: test

help:
	@echo "make demo   train a 2-D diffusion model on gaussians8 and sample it ($(DEMO_DIR)/)"
	@echo "make test   gofmt check, go vet, every Go test and every notebook (what CI runs)"
	@echo "make fuzz   run every Go fuzz test for FUZZTIME each (default $(FUZZTIME)), one after another"
	@echo "make jupyter        open the notebooks in JupyterLab (or the classic Notebook)"
	@echo "make notebooks      re-execute the notebooks in place, refreshing their outputs"
	@echo "make jupyter-setup  install GoNB, gopls, goimports and Jupyter; register the kernel"
	@echo "make bench  time training and sampling against the PyTorch peer"
	@echo "make build  build the commands into bin/"

## test: everything CI runs.
test: fmt-check vet lint builds gotest notebooks-test

## tools: the pinned tool chain (GoNB, gopls, goimports, actionlint, dockerlint) in .tools/bin.
tools:
	cd tools && GOEXPERIMENT= GOBIN=$(CURDIR)/.tools/bin GOFLAGS=-mod=mod $(GO) install tool

## lint: the GitHub workflows (actionlint), the Dockerfile (BuildKit's checks) and the shell scripts.
lint: tools
	cd tools && GOEXPERIMENT= $(GO) vet ./dockerlint
	.tools/bin/actionlint .github/workflows/*.yml
	.tools/bin/dockerlint docker/Dockerfile
	@command -v shellcheck >/dev/null || { echo "shellcheck is missing: apt-get install shellcheck"; exit 1; }
	shellcheck .ci/run tools/jupyter-setup.sh

## builds: the default build (XLA through CGO) and the pure-Go one both compile.
builds:
	CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=1 $(GO) build ./...

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

gotest:
	GOMLX_BACKEND=$(TEST_BACKEND) $(GO) test -count=1 ./...

## fuzz: every fuzz test (func FuzzXxx in a _test.go file, out/, tools/ and
## hidden folders aside) for FUZZTIME each, one after another: go test runs
## one -fuzz target of one package at a time. A crasher is written to the
## package's testdata/fuzz/FuzzXxx/, whose seed corpora gotest also runs.
## Go 1.26's coordinator can fail a target with "context deadline exceeded"
## as -fuzztime runs out (go.dev/issue/75804); without a failing input
## written, that is reported but not counted as a failure. FUZZFLAGS bounds
## the minimisation of each new input (60 s by default, which a fuzzer of
## kilobyte-sized files can spend all its time on); add -parallel 1 on a
## small machine.
FUZZTIME ?= 30s
FUZZFLAGS ?= -fuzzminimizetime 5s
fuzz:
	@log=$$(mktemp); rcfile=$$(mktemp); failed=""; \
	for f in $$(find . \( -path ./out -o -path ./tools -o -path './.*' \) -prune -o -name '*_test.go' -print | xargs grep -l '^func Fuzz' | sort); do \
	  pkg=$$(dirname $$f); \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "== $$pkg $$name ($(FUZZTIME))"; \
	    { GOMLX_BACKEND=$(TEST_BACKEND) $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg; echo $$? >$$rcfile; } 2>&1 | tee $$log; \
	    if [ "$$(cat $$rcfile)" != 0 ]; then \
	      if ! grep -q 'Failing input written to' $$log && grep -q '^    context deadline exceeded$$' $$log; then \
	        echo "== $$pkg $$name: Go's -fuzztime race (go.dev/issue/75804), no failing input: not a failure"; \
	      else failed="$$failed $$pkg:$$name"; fi; \
	    fi; \
	  done; \
	done; \
	rm -f $$log $$rcfile; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi

## Notebooks: executed headlessly into notebooks/.executed/; a failing cell,
## or a cell whose stderr shows a failed command, fails the target.
jupyter-setup:
	bash tools/jupyter-setup.sh

notebooks-test: jupyter-setup
	$(if $(NOTEBOOKS),$(JUPYTER_PY) tools/nbrun.py check $(NOTEBOOKS),@echo "no notebooks yet")

notebooks: jupyter-setup
	$(JUPYTER_PY) tools/nbrun.py refresh $(NOTEBOOKS)

jupyter:
	JUPYTER_SERVER=1 bash tools/jupyter-setup.sh
	cd notebooks && if command -v jupyter-lab >/dev/null || [ -x ../.tools/venv/bin/jupyter-lab ]; then \
	  PATH="$(CURDIR)/.tools/venv/bin:$$PATH" jupyter lab; else jupyter notebook; fi

## demo: the main job — train, then sample.
demo:
	rm -rf $(DEMO_DIR)
	$(GO) run ./cmd/train --dataset gaussians8 --timesteps 1000 --batch-size 256 --steps $(DEMO_STEPS) --out $(DEMO_DIR)
	$(GO) run ./cmd/sample --model-path $(DEMO_DIR) --num-samples 2000 --sampler ddpm --out $(DEMO_DIR)/samples
	@echo "samples: $(DEMO_DIR)/samples.png and $(DEMO_DIR)/samples.csv; loss curve: $(DEMO_DIR)/loss.png"

## bench: Go against the PyTorch peer (needs Debian's python3-torch; see bench/README.md).
bench:
	$(GO) run ./cmd/bench

build:
	$(GO) build -o bin/ ./cmd/...

clean:
	rm -rf bin out
