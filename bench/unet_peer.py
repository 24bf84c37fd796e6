#!/usr/bin/python3
"""PyTorch peer of the UNet benchmark (go run ./cmd/bench --model unet).

It builds the same network as unet.UNet (github.com/godiffusion/diffusion-models)
for the "reference" configuration (1,152,193 parameters; the layer-by-layer
table is the doc comment of unet.UNetConfigByName), "small", "latent" or any
other UNetConfig without class conditioning, learned variance, dropout or the
linear time embedding, and times the same training step and DDPM sampling
step as the Go command, on the CPU (--device cpu, the default) or on an NVIDIA GPU
(--device cuda). Only PyTorch and the standard library are used (Debian's
python3-torch, 1.13, on the CPU; any CUDA build of torch on the GPU), with
helpers shared with mlp_peer.py. Run it with /usr/bin/python3 or the
interpreter of a CUDA torch.

On the GPU the model, the schedule's tables and the optimiser state live on
the device; each training batch is drawn on the host beforehand and copied
to the device inside the timed step, as the Go side copies its host batch
into every call; every timed call ends with torch.cuda.synchronize(), so
that it is the GPU's work that is timed, not its launch. The peak GPU memory
is reported as torch.cuda.max_memory_allocated (tensors), max_memory_reserved
(what the caching allocator held) and what nvidia-smi lists for the process
(also the CUDA context).

Model (float32, images NCHW here, [B, H, W, C] on the Go side), with E the
time-embedding width, GN the GroupNorm of `groups` groups of consecutive
channels (ε = 1e-5), every convolution padded by (k−1)/2 and every layer
with a bias and PyTorch's default initialisation U(±1/√fan_in):

    e  = time_2(SiLU(time_1(sinusoidal(t))))   sinusoidal(t)_k = sin(t ω_k), _{k+E/2} = cos(t ω_k),
                                               ω_k = 10000^(−k/(E/2)), k < E/2
    x  = x zero-padded at the bottom and on the right to P×P, P the padded
         size (the smallest multiple of 2^(levels−1) ≥ ImageSize; x itself
         when that divides ImageSize)
    h  = conv_in(x)                            Conv3×3 → base
    down, level i: NumResBlocks × ResBlock (+ Attention at the listed sides);
                   skip_i = h; Conv3×3 stride 2 except at the last level
    middle: ResBlock, Attention (unless NoMiddleAttention), ResBlock
    up, level i from the last: h = cat(h, skip_i) on channels, NumResBlocks ×
                   ResBlock (+ Attention); nearest ×2 then Conv3×3 to the
                   next level's width, except at the first level
    ε̂  = conv_out(SiLU(GN(h)))                 Conv3×3 → InChannels, cropped to its
                                               top-left ImageSize×ImageSize pixels

    Level i works at the side P/2^i; AttentionResolutions name these padded
    sides (the "latent" UNet, 7×7×4, runs at 8×8 and 4×4 and crops ε̂ to 7×7).

    ResBlock(x) = skip(x) + Conv3×3(SiLU(GN(Conv3×3(SiLU(GN(x))) + Linear(SiLU(e)))))
                  (skip a Conv1×1 when the width changes)
    Attention(x) = x + proj(o),  q, k, v = qkv(GN(x)) (Conv1×1 C → 3C, in that order),
                  per head of d channels o = softmax_keys(qᵀk/√d) v

Training step (diffusion.Trainer.TrainStep with lr 2e-4, EMA 0.9999, no
warm-up, no clipping): t ~ U{0..T−1}, ε ~ N(0, I),

    x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε,   L = mean_b mean_pixels (ε − ε̂(x_t, t))²,

the global gradient norm √(Σ‖g‖²), Adam (β₁ 0.9, β₂ 0.999, ε 1e-8) with
the bias corrections of the Go trainer, θ ← θ − lr m̂/(√v̂ + ε), m̂ = m/(1−β₁ⁿ⁺¹),
v̂ = v/(1−β₂ⁿ⁺¹) (torch.optim.Adam's update), then the EMA of the weights
e ← e + (1−d)(θ − e), d = 0 at the first step, then min(0.9999, (1+n)/(10+n)).
The data are random images in [−1, 1] shaped like MNIST.

Sampling step (diffusion.DDPM with the β̃ variance and x̂₀ clipped to [−1, 1],
as for images), at step index t, on the EMA weights:

    x̂₀ = clip(x_t/√ᾱ_t − √(1/ᾱ_t − 1) ε̂, −1, 1),
    μ = β_t √ᾱ_{t−1}/(1−ᾱ_t) x̂₀ + (1−ᾱ_{t−1}) √α_t/(1−ᾱ_t) x_t,
    x_{t−1} = μ + [t > 0] σ_t z,   σ_t² = β̃_t (log β̃ clipped at the first step).

Output: one JSON object per line on stdout (see --help). Exit status 3 means
that PyTorch cannot be imported by this interpreter, 4 that --device cuda was
asked for and this torch cannot use CUDA (built without it, as Debian's is,
or no GPU visible).
"""

import argparse
import base64
import json
import math
import os
import resource
import subprocess
import sys

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as err:  # reported to cmd/bench, which then runs without a peer
    print(f"unet_peer: PyTorch cannot be imported by {sys.executable}: {err}", file=sys.stderr)
    sys.exit(3)

sys.dont_write_bytecode = True  # no bench/__pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mlp_peer import (  # noqa: E402
    LinearSchedule, Trainer, blas_library, count_params, ddpm_step, emit, keep_freed_memory, per_example_mse, summary,
    timed,
)

NORM_EPS = 1e-5
MAX_PERIOD = 10000.0
EXIT_NO_CUDA = 4  # --device cuda, and this torch cannot use CUDA

# The named configurations of unet.UNetConfigByName, with their parameter
# counts (from its documentation), and the defaults of UNetConfig.WithDefaults.
NAMED_CONFIGS = {
    "reference": {"ImageSize": 28, "InChannels": 1, "BaseChannels": 32, "ChannelMults": [1, 2, 2],
                  "NumResBlocks": 2, "Heads": 1, "GroupNormGroups": 8, "TimeEmbedDim": 128},
    "small": {"ImageSize": 28, "InChannels": 1, "BaseChannels": 16, "ChannelMults": [1, 2, 2],
              "NumResBlocks": 1, "Heads": 1, "GroupNormGroups": 8, "TimeEmbedDim": 64},
    # 7×7×4 latents, run zero-padded to 8×8 (levels at 8² and 4²).
    "latent": {"ImageSize": 7, "InChannels": 4, "BaseChannels": 64, "ChannelMults": [1, 1],
               "NumResBlocks": 1, "Heads": 1, "GroupNormGroups": 8, "TimeEmbedDim": 128},
}
NAMED_PARAMS = {"reference": 1152193, "small": 195585, "latent": 713156}
DEFAULTS = {"ImageSize": 28, "InChannels": 1, "BaseChannels": 32, "ChannelMults": [1, 2, 2],
            "NumResBlocks": 2, "AttentionResolutions": [], "NoMiddleAttention": False, "Heads": 1,
            "Dropout": 0, "GroupNormGroups": 8, "TimeEmbedding": "sinusoidal", "TimeEmbedDim": 0,
            "Timesteps": 1000, "NumClasses": 0, "LearnedVariance": False, "ContextDim": 0,
            "GradCheckpoint": False}


def unet_config(spec):
    """Returns the full configuration of a name ("reference", "small",
    "latent") or of a JSON object with unet.UNetConfig's field names (as Go's
    json.Marshal writes them), zero fields meaning their defaults like
    WithDefaults. Any ImageSize ≥ 1 is accepted: sizes that 2^(levels−1)
    does not divide are padded (see padded_size)."""
    if spec in NAMED_CONFIGS:
        given = NAMED_CONFIGS[spec]
    else:
        try:
            given = json.loads(spec)
        except ValueError:
            raise ValueError(f"unet_peer: --config {spec!r} is neither a name "
                             f"({', '.join(sorted(NAMED_CONFIGS))}) nor a JSON object")
        if not isinstance(given, dict):
            raise ValueError(f"unet_peer: --config {spec!r} is not a JSON object")
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unet_peer: unknown UNetConfig fields {sorted(unknown)}")
    if given.get("GradCheckpoint"):
        # Checkpointing changes how the Go network's gradients are computed
        # (memory against time), not the network; this peer does not
        # checkpoint, so a timing against it would compare unlike things.
        raise ValueError("unet_peer: GradCheckpoint is not mirrored here; compare the networks without it")
    c = dict(DEFAULTS)
    c.update({k: v for k, v in given.items() if v not in (0, "", None, [], False)})
    if not c["TimeEmbedDim"]:
        c["TimeEmbedDim"] = 4 * c["BaseChannels"]
    c["AttentionResolutions"] = list(c["AttentionResolutions"] or [])
    if c["NumClasses"] or c["LearnedVariance"] or c["Dropout"] or c["TimeEmbedding"] != "sinusoidal" or c["ContextDim"]:
        raise ValueError("unet_peer: class conditioning, learned variance, dropout, the linear time embedding "
                         f"and cross-attention to a context are not mirrored here, got {given}")
    if c["TimeEmbedDim"] % 2:
        raise ValueError(f"unet_peer: TimeEmbedDim must be even, got {c['TimeEmbedDim']}")
    if not isinstance(c["ImageSize"], int) or c["ImageSize"] < 1:
        raise ValueError(f"unet_peer: ImageSize must be ≥ 1, got {c['ImageSize']}")
    return c


def padded_size(cfg):
    """The side at which the network runs (unet.UNetConfig.PaddedSize): the
    smallest multiple of f = 2^(len(ChannelMults)−1) that is ≥ ImageSize,
    ImageSize itself when f divides it (7 with (1, 1) or (1, 2) gives 8, 5
    with (1, 2, 2) gives 8, 28 with (1, 2, 2) gives 28)."""
    f = 1 << (len(cfg["ChannelMults"]) - 1)
    return (cfg["ImageSize"] + f - 1) // f * f


class ResBlock(nn.Module):
    """skip(x) + conv_2(SiLU(norm_2(conv_1(SiLU(norm_1(x))) + time(SiLU(e))))),
    with unet.ResBlock's layer names."""

    def __init__(self, cin, cout, temb, groups):
        super().__init__()
        self.norm_1 = nn.GroupNorm(groups, cin, eps=NORM_EPS)
        self.conv_1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(temb, cout)
        self.norm_2 = nn.GroupNorm(groups, cout, eps=NORM_EPS)
        self.conv_2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, se):
        """x [B, Cin, H, W]; se = SiLU(e) [B, E]."""
        h = self.conv_1(F.silu(self.norm_1(x))) + self.time(se)[:, :, None, None]
        h = self.conv_2(F.silu(self.norm_2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class Attention(nn.Module):
    """x + proj(o), o the self-attention over the H·W positions of qkv(norm(x)),
    with unet.AttentionBlock's layer names; head j holds channels j·d … j·d+d−1."""

    def __init__(self, c, heads, groups):
        super().__init__()
        if c % heads:
            raise ValueError(f"unet_peer: {heads} heads cannot split {c} channels")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, c, eps=NORM_EPS)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, hgt, wid = x.shape
        d = c // self.heads
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, d, hgt * wid)
        q, k, v = qkv.unbind(1)                                            # [B, heads, d, P]
        a = torch.softmax(q.transpose(-1, -2) @ k * (1 / math.sqrt(d)), dim=-1)  # [B, heads, P(query), P(key)]
        o = v @ a.transpose(-1, -2)                                        # [B, heads, d, P]
        return x + self.proj(o.reshape(b, c, hgt, wid))


class UNet(nn.Module):
    """The network of unet.UNet for a configuration of unet_config. Levels
    are ModuleDicts named like the Go scopes (down_0/res_1 → down_0.res_1),
    so that Go's variables map onto the parameters by name. The levels work
    at padded_size(cfg)/2^i (the attention resolutions are those sides); the
    input is zero-padded to it and the output cropped back to ImageSize."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        E, groups, base = cfg["TimeEmbedDim"], cfg["GroupNormGroups"], cfg["BaseChannels"]
        mults, nres, heads = cfg["ChannelMults"], cfg["NumResBlocks"], cfg["Heads"]
        attn_at = set(cfg["AttentionResolutions"])
        self.time_1 = nn.Linear(E, E)
        self.time_2 = nn.Linear(E, E)
        self.conv_in = nn.Conv2d(cfg["InChannels"], base, 3, padding=1)
        last = len(mults) - 1
        self.padded = padded_size(cfg)
        res, ch, skip_ch = self.padded, base, []
        for i, m in enumerate(mults):
            level = nn.ModuleDict()
            for r in range(nres):
                level[f"res_{r}"] = ResBlock(ch, base * m, E, groups)
                ch = base * m
                if res in attn_at:
                    level[f"attn_{r}"] = Attention(ch, heads, groups)
            skip_ch.append(ch)
            if i < last:
                level["downsample"] = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
                res //= 2
            setattr(self, f"down_{i}", level)
        self.middle = nn.ModuleDict({"res_0": ResBlock(ch, ch, E, groups)})
        if not cfg["NoMiddleAttention"]:
            self.middle["attn"] = Attention(ch, heads, groups)
        self.middle["res_1"] = ResBlock(ch, ch, E, groups)
        for i in range(last, -1, -1):
            level = nn.ModuleDict()
            co = base * mults[i]
            for r in range(nres):
                level[f"res_{r}"] = ResBlock(ch + skip_ch[i] if r == 0 else co, co, E, groups)
                ch = co
                if res in attn_at:
                    level[f"attn_{r}"] = Attention(ch, heads, groups)
            if i > 0:
                level["upsample"] = nn.Conv2d(ch, base * mults[i - 1], 3, padding=1)
                ch = base * mults[i - 1]
                res *= 2
            setattr(self, f"up_{i}", level)
        self.out_norm = nn.GroupNorm(groups, ch, eps=NORM_EPS)
        self.conv_out = nn.Conv2d(ch, cfg["InChannels"], 3, padding=1)
        half = E // 2
        # ω_k = P^(−k/half), computed in float64 and stored as float32 (as the Go constant).
        k = torch.arange(half, dtype=torch.float64)
        self.register_buffer("freqs", torch.exp(-math.log(MAX_PERIOD) * k / half).to(torch.float32))

    def embed(self, t):
        """sinusoidal(t) = [sin(t ω), cos(t ω)] (sines first), shape [B, E]."""
        args = t.to(torch.float32)[:, None] * self.freqs[None, :]
        return torch.cat([torch.sin(args), torch.cos(args)], dim=1)

    def _blocks(self, level, h, se):
        for r in range(self.cfg["NumResBlocks"]):
            h = level[f"res_{r}"](h, se)
            if f"attn_{r}" in level:
                h = level[f"attn_{r}"](h)
        return h

    def forward(self, x, t):
        """ε̂ for x [B, C, H, W] (H = W = ImageSize) and integer timesteps t [B]."""
        se = F.silu(self.time_2(F.silu(self.time_1(self.embed(t)))))
        size, pad = self.cfg["ImageSize"], self.padded - self.cfg["ImageSize"]
        if pad:
            x = F.pad(x, (0, pad, 0, pad))  # (left, right, top, bottom) of W then H: zeros at the bottom and right
        h = self.conv_in(x)
        n = len(self.cfg["ChannelMults"])
        skips = []
        for i in range(n):
            level = getattr(self, f"down_{i}")
            h = self._blocks(level, h, se)
            skips.append(h)
            if "downsample" in level:
                h = level["downsample"](h)
        h = self.middle["res_0"](h, se)
        if "attn" in self.middle:
            h = self.middle["attn"](h)
        h = self.middle["res_1"](h, se)
        for i in range(n - 1, -1, -1):
            level = getattr(self, f"up_{i}")
            h = self._blocks(level, torch.cat([h, skips[i]], dim=1), se)
            if "upsample" in level:
                h = level["upsample"](F.interpolate(h, scale_factor=2, mode="nearest"))
        out = self.conv_out(F.silu(self.out_norm(h)))
        if pad:
            out = out[:, :, :size, :size]  # the top-left ImageSize×ImageSize pixels
        return out


def peak_rss_mib():
    """The process's peak resident memory in MiB: VmHWM of /proc/self/status,
    the high-water mark of this program's own address space. (getrusage's
    ru_maxrss is not used: a process started by vfork, as Go's os/exec
    starts it, inherits in it the parent's peak at exec, several GiB after
    the Go UNet ran.) Falls back to ru_maxrss where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def conv_backend(model, batch, device="cpu"):
    """Names the kernel PyTorch runs a 3×3 convolution of this model with at
    this batch size on device, from the autograd profiler: "oneDNN (mkldnn)",
    "cuDNN" or "im2col + BLAS" (or the operators seen)."""
    conv = model.down_0["res_0"].conv_1
    x = torch.zeros(batch, conv.in_channels, model.padded, model.padded, device=device)
    with torch.no_grad(), torch.autograd.profiler.profile() as prof:
        conv(x)
    names = {e.name for e in prof.function_events}
    if "aten::cudnn_convolution" in names:
        return "cuDNN"
    if "aten::mkldnn_convolution" in names:
        return "oneDNN (mkldnn)"
    if names & {"aten::_slow_conv2d_forward", "aten::thnn_conv2d", "aten::slow_conv2d_forward"}:
        return "im2col + BLAS"
    return " ".join(sorted(n for n in names if "conv" in n)) or "unknown"


def cuda_unavailable():
    """Why this torch cannot run on CUDA, or None when it can."""
    if torch.version.cuda is None:
        return (f"torch {torch.__version__} in {sys.executable} was built without CUDA "
                "(Debian's python3-torch is); use a CUDA build of torch")
    if not torch.cuda.is_available():
        return (f"torch {torch.__version__} in {sys.executable} (CUDA {torch.version.cuda}) sees no usable GPU "
                "(torch.cuda.is_available() is False: no NVIDIA driver, no device, or CUDA_VISIBLE_DEVICES hides it)")
    return None


def parse_compute_apps(out, pid):
    """MiB that nvidia-smi's "pid, used_memory" lines (csv, noheader,
    nounits) attribute to pid, summed over its GPUs; None when it is not
    listed or has no figure ("[N/A]")."""
    total, seen = 0.0, False
    for line in out.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 2:
            continue
        try:
            if int(fields[0]) != pid:
                continue
            total += float(fields[1])
            seen = True
        except ValueError:
            continue
    return total if seen else None


def nvidia_smi_mib(pid):
    """GPU memory nvidia-smi lists for pid, in MiB, or None (no nvidia-smi,
    not listed: in a container nvidia-smi may list host PIDs)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_compute_apps(out, pid)


def decode_weight(w):
    """A Go variable {"shape", "data"} with data the base64 of little-endian float32s."""
    raw = bytearray(base64.b64decode(w["data"]))
    if len(raw) != 4 * math.prod(w["shape"]):
        raise ValueError(f"unet_peer: {len(raw)} bytes for shape {w['shape']}")
    if sys.byteorder != "little":
        raise ValueError("unet_peer: the check file is little-endian")
    return torch.frombuffer(raw, dtype=torch.float32).reshape(w["shape"])


def load_go_weights(model, weights):
    """Copies Go variables (paths /model/<scopes>/<name>) into the model:
    Dense "weights" [in, out] → Linear weight [out, in]; Conv "weights"
    [k, k, in, out] → Conv2d weight [out, in, k, k]; "biases" → bias;
    GroupNorm "scale" → weight, "offset" → bias. Every parameter must be set
    exactly once."""
    params = dict(model.named_parameters())
    done = set()
    with torch.no_grad():
        for full, w in weights.items():
            parts = [p for p in full.split("/") if p][1:]  # drop the model scope
            leaf, name = parts[-1], ".".join(parts[:-1])
            value = decode_weight(w)
            if leaf == "weights" and value.dim() == 2:
                key, value = name + ".weight", value.T
            elif leaf == "weights" and value.dim() == 4:
                key, value = name + ".weight", value.permute(3, 2, 0, 1)
            elif leaf in ("biases", "offset"):
                key = name + ".bias"
            elif leaf == "scale":
                key = name + ".weight"
            else:
                raise ValueError(f"unet_peer: unexpected variable {full}")
            if key not in params or params[key].shape != value.shape:
                raise ValueError(f"unet_peer: variable {full} {list(value.shape)} matches no parameter")
            if key in done:
                raise ValueError(f"unet_peer: parameter {key} set twice")
            params[key].copy_(value)
            done.add(key)
    missing = sorted(set(params) - done)
    if missing:
        raise ValueError(f"unet_peer: the check file sets no value for {missing}")


def check_forward(path, args):
    """Reads {"config": UNetConfig as JSON, "weights": {path: {"shape", "data"}},
    "x", "t", "z", "x0", "noise", "cases": [{"weights": {...}}, ...]} written
    by cmd/bench's test (Go variable paths and layouts, images [n, H, W, C]
    flattened) and prints, per case (the top-level weights overridden by the
    case's), ε̂ at (x, t), one DDPM step from x with the Gaussian draw z and
    the per-example L_simple at (x0, t, noise), flattened channels-last, for
    comparison with the Go graph."""
    with open(path) as f:
        spec = json.load(f)
    cfg = unet_config(json.dumps(spec["config"]))
    sched = LinearSchedule(args.timesteps)
    n = len(spec["t"])
    s, c = cfg["ImageSize"], cfg["InChannels"]

    def images(key):  # [n, H, W, C] → [n, C, H, W]
        return torch.tensor(spec[key], dtype=torch.float32).reshape(n, s, s, c).permute(0, 3, 1, 2)

    def flat(v):  # [n, C, H, W] → channels-last list
        return v.permute(0, 2, 3, 1).flatten().tolist()

    x, z, x0, noise = images("x"), images("z"), images("x0"), images("noise")
    t = torch.tensor(spec["t"], dtype=torch.int64)
    out = []
    for case in spec["cases"]:
        model = UNet(cfg)
        load_go_weights(model, {**spec["weights"], **case.get("weights", {})})
        with torch.no_grad():
            nxt, _, eps = ddpm_step(model, sched, x, t, z, clip=True)
            per = per_example_mse(model, sched, x0, t, noise)
        out.append({"eps": flat(eps), "next": flat(nxt), "loss": per.tolist()})
    emit({"cases": out})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", action="append", metavar="NAME|JSON",
                    help="UNet configuration: " + ", ".join(NAMED_CONFIGS) + " (reference the default) "
                         "or a JSON UNetConfig; "
                         "repeatable with --count-params")
    ap.add_argument("--runs", type=int, default=10, help="timed runs of each step (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs before them (default 2)")
    ap.add_argument("--batch", type=int, default=64, help="training batch size (default 64)")
    ap.add_argument("--samples", type=int, default=16, help="images per sampling step (default 16)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--timesteps", type=int, default=1000, help="T of the linear schedule (default 1000)")
    ap.add_argument("--lr", type=float, default=2e-4, help="Adam's learning rate (default 2e-4)")
    ap.add_argument("--ema", type=float, default=0.9999, help="EMA decay (default 0.9999)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="where the timed steps run: cpu (default) or cuda (the first visible GPU; "
                         f"exit status {EXIT_NO_CUDA} when this torch cannot use CUDA)")
    ap.add_argument("--malloc", default="keep", choices=["keep", "system"],
                    help="keep: glibc malloc keeps freed memory (default, see mlp_peer.keep_freed_memory); "
                         "system: as configured")
    ap.add_argument("--count-params", action="store_true",
                    help='print {"config", "params"} for the model (or each --config) and exit')
    ap.add_argument("--check-forward", metavar="FILE",
                    help="evaluate the model with the weights and inputs in FILE (JSON) and exit")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.batch < 1 or args.samples < 1:
        ap.error("--runs, --batch and --samples must be ≥ 1 and --warmup ≥ 0")
    specs = args.config or ["reference"]
    if args.device == "cuda":
        why = cuda_unavailable()
        if why:
            print(f"unet_peer: --device cuda: {why}", file=sys.stderr)
            return EXIT_NO_CUDA

    malloc = "system"
    if args.malloc == "keep":
        malloc = "keep" if keep_freed_memory() else "system (mallopt failed)"
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    try:
        if args.check_forward:
            check_forward(args.check_forward, args)
            return 0
        cfgs = [unet_config(s) for s in specs]
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    if args.count_params:
        for spec, cfg in zip(specs, cfgs):
            n = count_params(UNet(cfg))
            if spec in NAMED_PARAMS:
                assert n == NAMED_PARAMS[spec], f"unet_peer: {spec}: {n} parameters, want {NAMED_PARAMS[spec]}"
            emit({"config": spec, "params": n})
        return 0
    if len(cfgs) > 1:
        ap.error("one --config only when timing")
    cfg = cfgs[0]
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    model = UNet(cfg)
    n_params = count_params(model)
    if specs[0] in NAMED_PARAMS:
        assert n_params == NAMED_PARAMS[specs[0]], f"unet_peer: {n_params} parameters, want {NAMED_PARAMS[specs[0]]}"
    model.to(dev)

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    shape = (cfg["InChannels"], cfg["ImageSize"], cfg["ImageSize"])
    with torch.no_grad():
        model.time_1(torch.zeros(2, cfg["TimeEmbedDim"], device=dev))  # loads the BLAS library (or cuBLAS)
    info = {"measurement": "info", "torch": torch.__version__, "python": sys.version.split()[0],
            "threads": torch.get_num_threads(), "config": specs[0], "params": n_params,
            "blas": "cuBLAS" if cuda else blas_library(), "conv": conv_backend(model, args.batch, dev),
            "malloc": malloc, "device": "cpu"}
    if cuda:
        info.update({"device": f"cuda ({torch.cuda.get_device_name(dev)})", "cuda": torch.version.cuda,
                     "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                     "tf32_conv": torch.backends.cudnn.allow_tf32})
    emit(info)
    sched = LinearSchedule(args.timesteps).to(dev)
    gen = torch.Generator().manual_seed(args.seed)
    # Random images in [−1, 1], drawn beforehand on the host so that only the
    # step (with the batch's copy to the device) is timed.
    batches = [2 * torch.rand(args.batch, *shape, generator=gen) - 1 for _ in range(args.warmup + args.runs)]
    trainer = Trainer(model, sched, lr=args.lr, warmup=0, ema_decay=args.ema)
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)

    def train_once(i):
        trainer.train_step(batches[i].to(dev))
        sync()

    sync()
    first, times = timed(train_once, args.warmup, args.runs)
    emit(summary("train_step", first, times, args.warmup, {"batch": args.batch}))

    # Sampling with the EMA weights, as diffusion.Sample does by default; the
    # steps visited are T−1, T−2, … like an ancestral sampling run.
    with torch.no_grad():
        for p, e in zip(trainer.params, trainer.ema):
            p.copy_(e)
    state = {"x": torch.randn(args.samples, *shape).to(dev)}

    def sample_once(i):
        with torch.no_grad():
            t = torch.full((args.samples,), (args.timesteps - 1 - i) % args.timesteps, dtype=torch.int64, device=dev)
            z = torch.randn_like(state["x"])
            state["x"], _, _ = ddpm_step(model, sched, state["x"], t, z, clip=True)
        sync()

    sync()
    first, times = timed(sample_once, args.warmup, args.runs)
    emit(summary("sample_step", first, times, args.warmup, {"samples": args.samples}))
    if not bool(torch.isfinite(state["x"]).all()):
        print("unet_peer: the samples are not finite", file=sys.stderr)
        return 1
    emit({"measurement": "peak_rss", "mib": peak_rss_mib()})
    if cuda:
        mib = float(1 << 20)
        emit({"measurement": "gpu_memory", "allocated_mib": torch.cuda.max_memory_allocated(dev) / mib,
              "reserved_mib": torch.cuda.max_memory_reserved(dev) / mib, "smi_mib": nvidia_smi_mib(os.getpid())})
    return 0


if __name__ == "__main__":
    sys.exit(main())
