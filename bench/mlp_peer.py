#!/usr/bin/python3
"""PyTorch peer of the 2-D MLP diffusion benchmark (go run ./cmd/bench).

It builds the same denoiser as unet.MLP (github.com/godiffusion/diffusion-models)
and times the same training step and DDPM sampling step as the Go command, on
the CPU. Only PyTorch and the standard library are used (Debian's
python3-torch, 1.13). Run it with /usr/bin/python3.

Model (float32), with φ the activation and every W a Linear layer with bias,
initialised U(±1/√fan_in) like nn.Linear's default (and like unet.Dense):

    e = W₂ φ(W₁ sinusoidal(t))              sinusoidal(t)_k = sin(t ω_k), _{k+32} = cos(t ω_k),
                                            ω_k = 10000^(−k/32), k = 0..31
    h = W_in x
    h ← h + W_b φ(W_a φ(h) + W_e φ(e))      3 residual blocks
    ε̂ = W_out φ(h)

Training step (the Go trainer's, diffusion.Trainer.TrainStep with
experiment.Default2D): t ~ U{0..T−1}, ε ~ N(0, I),

    x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε,   L = mean_b mean_d (ε − ε̂(x_t, t))²,

the global gradient norm √(Σ‖g‖²), Adam (β₁ 0.9, β₂ 0.999, ε 1e-8) with the
learning rate warmed up as lr·min(1, (n+1)/100), then the EMA of the weights
e ← e + (1−d)(θ − e), d = 0 at the first step, then min(0.995, (1+n)/(10+n)).

Sampling step (diffusion.DDPM with the β̃ variance), at step index t:

    x̂₀ = x_t/√ᾱ_t − √(1/ᾱ_t − 1) ε̂,
    μ = β_t √ᾱ_{t−1}/(1−ᾱ_t) x̂₀ + (1−ᾱ_{t−1}) √α_t/(1−ᾱ_t) x_t,
    x_{t−1} = μ + [t > 0] σ_t z,   σ_t² = β̃_t = β_t (1−ᾱ_{t−1})/(1−ᾱ_t)

(log β̃ clipped at the first step to log β̃ of the second).

Output: one JSON object per line on stdout (see --help). Exit status 3 means
that PyTorch cannot be imported by this interpreter.
"""

import argparse
import ctypes
import ctypes.util
import json
import math
import resource
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as err:  # reported to cmd/bench, which then runs without a peer
    print(f"mlp_peer: PyTorch cannot be imported by {sys.executable}: {err}", file=sys.stderr)
    sys.exit(3)

# Defaults of unet.MLPConfig and experiment.Default2D.
DEFAULT_PARAMS = 174082
LINEAR_BETA_START = 1e-4
LINEAR_BETA_END = 0.02
MAX_PERIOD = 10000.0


# mallopt parameters (glibc malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def keep_freed_memory():
    """Asks glibc's malloc to keep freed memory in the process (no trimming,
    no mmap for blocks up to 32 MiB), the way a caching allocator would.
    Without it every step hands its ~1 MiB activations back to the kernel and
    faults them in again, which on virtual machines that report free pages to
    the host costs more than the arithmetic. Returns whether it took effect."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        ok = libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
        return libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 and ok
    except (OSError, AttributeError):
        return False


def blas_library():
    """Names the BLAS that this process loaded (nn.Linear's matrix products
    run there), from /proc/self/maps: "OpenBLAS", "MKL", "reference BLAS
    (netlib)" or the library's path."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if line.rstrip().endswith(".so") or ".so." in line}
    except OSError:
        return "unknown"
    paths = sorted(p for p in paths if "blas" in p.lower() or "mkl" in p.lower())
    joined = " ".join(paths).lower()
    if "openblas" in joined:
        return "OpenBLAS"
    if "mkl" in joined:
        return "MKL"
    if "/blas/libblas" in joined:
        return "reference BLAS (netlib)"
    return paths[0] if paths else "none found"


def activation_fn(name):
    """Returns φ for a name: relu is max(x, 0), silu is x·σ(x)."""
    if name == "relu":
        return F.relu
    if name in ("silu", "swish"):
        return F.silu
    raise ValueError(f"mlp_peer: unknown activation {name!r} (want relu or silu)")


class Block(nn.Module):
    """One residual block: h + W_b φ(W_a φ(h) + W_e φ(e)) (W_e is `time`)."""

    def __init__(self, hidden):
        super().__init__()
        self.a = nn.Linear(hidden, hidden)
        self.time = nn.Linear(hidden, hidden)
        self.b = nn.Linear(hidden, hidden)


class MLP(nn.Module):
    """The denoiser of unet.MLP, with the same layer names (time_1, time_2,
    input, block_i/{a,time,b}, output)."""

    def __init__(self, dim=2, hidden=128, blocks=3, time_dim=64, activation="relu"):
        super().__init__()
        if time_dim < 2 or time_dim % 2:
            raise ValueError(f"mlp_peer: time_dim must be even and ≥ 2, got {time_dim}")
        self.act = activation_fn(activation)
        self.time_1 = nn.Linear(time_dim, hidden)
        self.time_2 = nn.Linear(hidden, hidden)
        self.input = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(Block(hidden) for _ in range(blocks))
        self.output = nn.Linear(hidden, dim)
        half = time_dim // 2
        # ω_k = P^(−k/half), computed in float64 and stored as float32.
        k = torch.arange(half, dtype=torch.float64)
        self.register_buffer("freqs", torch.exp(-math.log(MAX_PERIOD) * k / half).to(torch.float32))

    def embed(self, t):
        """sinusoidal(t) = [sin(t ω), cos(t ω)], shape [B, time_dim]."""
        args = t.to(torch.float32)[:, None] * self.freqs[None, :]
        return torch.cat([torch.sin(args), torch.cos(args)], dim=1)

    def forward(self, x, t):
        act = self.act
        e = self.time_2(act(self.time_1(self.embed(t))))
        se = act(e)
        h = self.input(x)
        for blk in self.blocks:
            r = blk.a(act(h)) + blk.time(se)
            h = h + blk.b(act(r))
        return self.output(act(h))


class LinearSchedule:
    """DDPM's linear schedule β_t = linspace(1e-4·1000/T, 0.02·1000/T, T),
    with the per-step tables computed in float64 and kept in float32."""

    def __init__(self, T=1000):
        f64 = torch.float64
        scale = 1000.0 / T
        beta = torch.linspace(scale * LINEAR_BETA_START, scale * LINEAR_BETA_END, T, dtype=f64)
        alpha = 1.0 - beta
        ab = torch.cumprod(alpha, dim=0)                        # ᾱ_t
        ab_prev = torch.cat([torch.ones(1, dtype=f64), ab[:-1]])  # ᾱ_{t−1}, ᾱ_0 = 1
        post_var = beta * (1.0 - ab_prev) / (1.0 - ab)          # β̃_t
        log_var = torch.log(torch.cat([post_var[1:2], post_var[1:]]))  # log β̃, first clipped

        def f32(v):
            return v.to(torch.float32)

        self.T = T
        self.sqrt_ab = f32(torch.sqrt(ab))
        self.sqrt_one_minus_ab = f32(torch.sqrt(1.0 - ab))
        self.sqrt_recip_ab = f32(torch.sqrt(1.0 / ab))
        self.sqrt_recip_m1_ab = f32(torch.sqrt(1.0 / ab - 1.0))
        self.coef1 = f32(beta * torch.sqrt(ab_prev) / (1.0 - ab))
        self.coef2 = f32((1.0 - ab_prev) * torch.sqrt(alpha) / (1.0 - ab))
        self.log_var = f32(log_var)

    def to(self, device):
        """Moves the per-step tables to device (e.g. "cuda"); returns self."""
        for name in ("sqrt_ab", "sqrt_one_minus_ab", "sqrt_recip_ab", "sqrt_recip_m1_ab", "coef1", "coef2", "log_var"):
            setattr(self, name, getattr(self, name).to(device))
        return self


def gaussians8(n, generator, std=0.1, radius=2.0):
    """n points of the mixture (1/8) Σ_k N(R (cos kπ/4, sin kπ/4), σ² I)."""
    k = torch.randint(0, 8, (n,), generator=generator).to(torch.float64)
    angle = k * (math.pi / 4)
    centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return (centres + std * torch.randn(n, 2, generator=generator, dtype=torch.float64)).to(torch.float32)


def batch_view(v, like):
    """v [B] shaped [B, 1, …] to broadcast over the other axes of like."""
    return v.reshape(-1, *([1] * (like.dim() - 1)))


def per_example(v, t, like):
    """v[t] shaped [B, 1, …] to broadcast over the other axes of like."""
    return batch_view(v[t], like)


def q_sample(sched, x0, t, noise):
    """x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε."""
    return per_example(sched.sqrt_ab, t, x0) * x0 + per_example(sched.sqrt_one_minus_ab, t, x0) * noise


def per_example_mse(model, sched, x0, t, noise):
    """L_simple per example: mean over the other axes of (ε − ε̂(x_t, t))²."""
    out = model(q_sample(sched, x0, t, noise), t)
    return (noise - out).square().flatten(1).mean(dim=1)


def ddpm_step(model, sched, x, t, z, clip=False):
    """One ancestral step x_t → x_{t−1} (see the module docstring), with x̂₀
    clipped to [−1, 1] when clip (pixels); returns (x_{t−1}, x̂₀, ε̂)."""
    eps = model(x, t)
    x0 = per_example(sched.sqrt_recip_ab, t, x) * x - per_example(sched.sqrt_recip_m1_ab, t, x) * eps
    if clip:
        x0 = x0.clamp(-1, 1)
    mean = per_example(sched.coef1, t, x) * x0 + per_example(sched.coef2, t, x) * x
    sigma = torch.exp(0.5 * per_example(sched.log_var, t, x))
    not_first = batch_view((t != 0).to(x.dtype), x)
    return mean + not_first * sigma * z, x0, eps


class Trainer:
    """The Go trainer's step: L_simple, gradient norm, Adam with the learning
    rate warmed up over warmup steps (0: none), EMA."""

    def __init__(self, model, sched, lr=1e-3, warmup=100, ema_decay=0.995):
        self.model, self.sched = model, sched
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(self.params, lr=lr, betas=(0.9, 0.999), eps=1e-8)
        self.lr, self.warmup, self.ema_decay = lr, warmup, ema_decay
        self.ema = [p.detach().clone() for p in self.params]
        self.step = 0  # steps taken

    def train_step(self, x0):
        n = self.step
        b = x0.shape[0]
        t = torch.randint(0, self.sched.T, (b,), device=x0.device)  # uniform timesteps, weights 1
        w = torch.ones(b, device=x0.device)
        noise = torch.randn_like(x0)
        per = per_example_mse(self.model, self.sched, x0, t, noise)
        loss = (per * w).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.sqrt(torch.stack([p.grad.square().sum() for p in self.params]).sum())
        lr = self.lr * min(1.0, (n + 1) / self.warmup) if self.warmup > 0 else self.lr
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.step()
        with torch.no_grad():
            d = 0.0 if n == 0 else min(self.ema_decay, (1 + n) / (10 + n))
            for e, p in zip(self.ema, self.params):
                e.lerp_(p, 1.0 - d)  # e ← e + (1−d)(θ − e)
        self.step += 1
        # The Go trainer reads the loss, the gradient norm and the per-example losses back.
        return loss.item(), grad_norm.item(), per.detach().tolist()


def count_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def timed(fn, warmup, runs):
    """Runs fn(i) warmup times, then runs times, timing each call with
    perf_counter; returns (first call, list of timed calls) in milliseconds."""
    first = None
    for i in range(warmup):
        t0 = time.perf_counter()
        fn(i)
        if i == 0:
            first = (time.perf_counter() - t0) * 1e3
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(warmup + i)
        times.append((time.perf_counter() - t0) * 1e3)
    if first is None:
        first = times[0]
    return first, times


def emit(obj):
    print(json.dumps(obj), flush=True)


def summary(name, first, times, warmup, extra):
    out = {"measurement": name, "median_ms": statistics.median(times), "min_ms": min(times),
           "max_ms": max(times), "first_ms": first, "runs": len(times), "warmup": warmup}
    out.update(extra)
    return out


def check_case(case, args, sched):
    """Evaluates one case of a --check-forward file (see check_forward)."""
    model = MLP(hidden=args.hidden, blocks=args.blocks, time_dim=args.time_dim, activation=case["activation"])
    params = dict(model.named_parameters())
    done = set()
    with torch.no_grad():
        for full, w in case["weights"].items():
            parts = [p for p in full.split("/") if p][1:]  # drop the model scope
            leaf = parts[-1]
            if parts[0].startswith("block_"):
                name = f"blocks.{int(parts[0][len('block_'):])}.{parts[1]}"
            else:
                name = parts[0]
            value = torch.tensor(w["data"], dtype=torch.float32).reshape(w["shape"])
            if leaf == "weights":
                key, value = name + ".weight", value.T  # Go stores [in, out], nn.Linear [out, in]
            elif leaf == "biases":
                key = name + ".bias"
            else:
                raise ValueError(f"mlp_peer: unexpected variable {full}")
            if key not in params or params[key].shape != value.shape:
                raise ValueError(f"mlp_peer: variable {full} {list(value.shape)} matches no parameter")
            params[key].copy_(value)
            done.add(key)
    missing = sorted(set(params) - done)
    if missing:
        raise ValueError(f"mlp_peer: the check file sets no value for {missing}")
    n = len(case["t"])

    def pts(key):
        return torch.tensor(case[key], dtype=torch.float32).reshape(n, 2)

    x, z, x0, noise = pts("x"), pts("z"), pts("x0"), pts("noise")
    t = torch.tensor(case["t"], dtype=torch.int64)
    with torch.no_grad():
        nxt, _, eps = ddpm_step(model, sched, x, t, z)
        per = per_example_mse(model, sched, x0, t, noise)
    return {"eps": eps.flatten().tolist(), "next": nxt.flatten().tolist(), "loss": per.tolist()}


def check_forward(path, args):
    """Reads {"cases": [{"activation", "weights": {path: {"shape", "data"}},
    "x", "t", "z", "x0", "noise"}, ...]} written by cmd/bench's test (Go
    variable paths and [in, out] weight layout) and prints, per case, ε̂, the
    per-example L_simple at (x0, t, noise) and one DDPM step from x with the
    Gaussian draw z, for comparison with the Go graph."""
    with open(path) as f:
        spec = json.load(f)
    sched = LinearSchedule(args.timesteps)
    emit({"cases": [check_case(c, args, sched) for c in spec["cases"]]})


def parse_config(s):
    try:
        h, b, e = (int(v) for v in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"want HIDDEN,BLOCKS,TIME_DIM, got {s!r}")
    return h, b, e


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--activation", default="relu", choices=["relu", "silu"])
    ap.add_argument("--runs", type=int, default=50, help="timed runs of each step (default 50)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed runs before them (default 5)")
    ap.add_argument("--batch", type=int, default=256, help="training batch size (default 256)")
    ap.add_argument("--samples", type=int, default=2000, help="samples per sampling step (default 2000)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--timesteps", type=int, default=1000, help="T of the linear schedule (default 1000)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--time-dim", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--malloc", default="keep", choices=["keep", "system"],
                    help="keep: glibc malloc keeps freed memory (default, see keep_freed_memory); system: as configured")
    ap.add_argument("--count-params", action="store_true",
                    help='print {"hidden", "blocks", "time_dim", "params"} for the model (or each --config) and exit')
    ap.add_argument("--config", type=parse_config, action="append", metavar="HIDDEN,BLOCKS,TIME_DIM",
                    help="with --count-params: a model to count (repeatable)")
    ap.add_argument("--check-forward", metavar="FILE",
                    help="evaluate the model with the weights and inputs in FILE (JSON) and exit")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.batch < 1 or args.samples < 1:
        ap.error("--runs, --batch and --samples must be ≥ 1 and --warmup ≥ 0")

    malloc = "system"
    if args.malloc == "keep":
        malloc = "keep" if keep_freed_memory() else "system (mallopt failed)"
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    defaults = (args.hidden, args.blocks, args.time_dim) == (128, 3, 64)

    if args.check_forward:
        check_forward(args.check_forward, args)
        return 0
    if args.count_params:
        for h, b, e in args.config or [(args.hidden, args.blocks, args.time_dim)]:
            n = count_params(MLP(hidden=h, blocks=b, time_dim=e, activation=args.activation))
            if (h, b, e) == (128, 3, 64):
                assert n == DEFAULT_PARAMS, f"mlp_peer: {n} parameters, want {DEFAULT_PARAMS}"
            emit({"hidden": h, "blocks": b, "time_dim": e, "params": n})
        return 0
    model = MLP(hidden=args.hidden, blocks=args.blocks, time_dim=args.time_dim, activation=args.activation)
    n_params = count_params(model)
    if defaults:
        assert n_params == DEFAULT_PARAMS, f"mlp_peer: {n_params} parameters, want {DEFAULT_PARAMS}"

    with torch.no_grad():
        model(torch.zeros(2, 2), torch.zeros(2, dtype=torch.int64))  # loads the BLAS library
    emit({"measurement": "info", "torch": torch.__version__, "python": sys.version.split()[0],
          "threads": torch.get_num_threads(), "activation": args.activation, "params": n_params,
          "blas": blas_library(), "malloc": malloc})
    sched = LinearSchedule(args.timesteps)
    gen = torch.Generator().manual_seed(args.seed)
    # Data are drawn beforehand so that only the step is timed.
    batches = [gaussians8(args.batch, gen) for _ in range(args.warmup + args.runs)]
    trainer = Trainer(model, sched)
    first, times = timed(lambda i: trainer.train_step(batches[i]), args.warmup, args.runs)
    emit(summary("train_step", first, times, args.warmup, {"batch": args.batch}))

    # Sampling with the EMA weights, as diffusion.Sample does by default; the
    # steps visited are T−1, T−2, … like an ancestral sampling run.
    with torch.no_grad():
        for p, e in zip(trainer.params, trainer.ema):
            p.copy_(e)
    state = {"x": torch.randn(args.samples, 2)}

    def sample_once(i):
        with torch.no_grad():
            t = torch.full((args.samples,), (args.timesteps - 1 - i) % args.timesteps, dtype=torch.int64)
            z = torch.randn_like(state["x"])
            state["x"], _, _ = ddpm_step(model, sched, state["x"], t, z)

    first, times = timed(sample_once, args.warmup, args.runs)
    emit(summary("sample_step", first, times, args.warmup, {"samples": args.samples}))
    if not bool(torch.isfinite(state["x"]).all()):
        print("mlp_peer: the samples are not finite", file=sys.stderr)
        return 1
    emit({"measurement": "peak_rss", "mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0})
    return 0


if __name__ == "__main__":
    sys.exit(main())
