#!/usr/bin/env python3
"""Times one training step of CFM and FDM in PyTorch on the CPU, to set beside `fdm-bench bench
<task> --preset paper`. Needs PyTorch (Debian: apt-get install python3-torch). Prints one JSON object.

--task checkerboard (default): the paper's MLP 4x512 Swish, batch 512, Adam, CondOT path, FDM with
the exact 2D divergence by double backpropagation, stop-gradient on.

--task dna-toy: configs/dna-toy.yaml's paper preset on the linear path: Dirichlet FM's CNN
(src/models/simplex-cnn.ts: hidden 128, 5 residual layers, kernel 9, dilations 1, 1, 4, 16, 64, its
convolutions as block-Toeplitz matrix products), batch 512 of L = 4 positions of K = 40 classes,
Adam lr 1e-3; CFM is the cross-entropy denoiser loss, FDM adds lambda 0.1 E[(w r)^2] with the
tangent-space residual r of src/losses/simplex-loss.ts, estimated by the unbiased product of two
Rademacher-probe estimates (hutchinson-unbiased, 2 probes), stop-gradient on. The logits' JVPs come,
by --jvp, from torch.autograd.forward_ad (the default; ops with parameter operands with their
tangents written out: see with_tangent_rule), which carries one tangent per primal: the primal pass
runs once per probe (2 here) where the suite's tangent pass shares one, so FDM's step has 4 passes'
worth of matrix products where the suite has 3 (forward; backward alike); or from the tangents
carried by hand beside the activations (tangent-pass), the suite's own algorithm.

Only the linear path: the Dirichlet path's training batch is not short to reproduce. Every step
evaluates C(b, alpha) and dC/db (src/paths/dirichlet-speed.ts, two series chosen per point by their
cancellation) at every class of every position, 81,920 points at a per-sequence alpha, so the
one-alpha speed table of sampling (speed-table.ts) does not apply. The network's work is the same
on both paths."""
import argparse
import json
import math
import statistics
import time

import torch
import torch.autograd.forward_ad as fwAD
from torch import nn
from torch.nn import functional as F

LAMBDA = 0.1


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


def mlp(hidden: int) -> nn.Module:
    layers = [nn.Linear(3, hidden), Swish()]
    for _ in range(3):
        layers += [nn.Linear(hidden, hidden), Swish()]
    return nn.Sequential(*layers, nn.Linear(hidden, 2))


def checkerboard(n: int) -> torch.Tensor:
    a = torch.rand(n) * 4 - 2
    b = torch.rand(n) - torch.randint(high=2, size=(n,)) * 2 + torch.floor(a) % 2
    return torch.stack([a, b], dim=1) / 0.45


def step_loss(model: nn.Module, batch: int, method: str, lam: float) -> torch.Tensor:
    x1 = checkerboard(batch)
    x0 = torch.randn_like(x1)
    t = torch.rand(batch, 1) * (1 - 1e-5)
    sigma = 1 - t
    xt = (t * x1 + sigma * x0).requires_grad_(method == "fdm")
    u = x1 - x0
    v = model(torch.cat([xt, t], dim=1))
    cfm = ((v - u) ** 2).mean()
    if method == "cfm":
        return cfm
    # Exact divergence in 2D: one reverse pass per coordinate, kept in the graph for training.
    div = sum(torch.autograd.grad(v[:, i].sum(), xt, create_graph=True)[0][:, i] for i in range(2))
    score = -x0 / sigma
    div_u = -2 / sigma.squeeze(1)
    residual = div - div_u + ((v.detach() - u) * score).sum(1)
    return cfm + lam * ((sigma.squeeze(1) * residual) ** 2).mean()


# dna-toy at its paper preset (configs/dna-toy.yaml; KERNEL and LINEAR_T_MAX from src/tasks/dna-toy.ts).
DNA_LENGTH = 4
DNA_CLASSES = 40
DNA_DEPTH = 5
DNA_PROBES = 2
KERNEL = 9
LINEAR_T_MAX = 1 - 1e-4
# From src/models/simplex-cnn.ts.
DILATIONS = (1, 1, 4, 16, 64)
FOURIER_SCALE = 16
LAYER_NORM_EPS = 1e-5


class ToeplitzConv1d(nn.Module):
    """simplex-cnn.ts's Conv1d: a 'same' zero-padded dilated 1D convolution over [N, L, C], applied as
    x [N, L C] times the block-Toeplitz [L C, L H] matrix of its taps, or per position by the centre
    tap alone when no other tap reaches the sequence (kernel 1, or dilation >= L). Same function as
    F.conv1d(padding='same', dilation=...), and the same multiply-adds as the suite's."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, dilation: int, length: int):
        super().__init__()
        bound = 1 / math.sqrt(in_channels * kernel)  # PyTorch's Conv1d initialisation, as the suite's
        # Rows are tap-major: rows [j C, (j + 1) C) hold tap j's [C, H] matrix.
        self.weight = nn.Parameter(torch.empty(kernel * in_channels, out_channels).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))
        self.shape = (in_channels, out_channels, kernel, length)
        self.pointwise = kernel == 1 or dilation >= length
        centre = (kernel - 1) // 2
        placement = torch.zeros(length * length, kernel)  # placement[src L + dst, j] = 1 where src - dst is tap j's offset
        for src in range(length):
            for dst in range(length):
                offset, rest = divmod(src - dst, dilation)
                if rest == 0 and abs(offset) <= centre:
                    placement[src * length + dst, centre + offset] = 1
        self.register_buffer("placement", placement)

    def matrix(self) -> torch.Tensor:
        c, h, kernel, length = self.shape
        if self.pointwise:
            centre = (kernel - 1) // 2
            return self.weight[centre * c : (centre + 1) * c]
        blocks = self.placement @ self.weight.view(kernel, c * h)
        return blocks.view(length, length, c, h).permute(0, 2, 1, 3).reshape(length * c, length * h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, h, _, length = self.shape
        matrix = self.matrix()
        bias = self.bias if self.pointwise else self.bias.repeat(length)
        rows = x.reshape(-1, c) if self.pointwise else x.reshape(-1, length * c)
        return with_tangent_rule(rows, lambda r: r @ matrix + bias, lambda z: z @ matrix).view(x.shape[0], length, h)


def with_tangent_rule(x: torch.Tensor, op, tangent_op) -> torch.Tensor:
    """op(x), where op's other operands (parameters, the time embedding) carry no tangent; for a dual x,
    with x's tangent mapped by tangent_op (op's derivative in x), written out. PyTorch 1.13's
    forward-mode rules materialise those operands' zero tangents and compute with them: a third
    matrix product per layer (a fourth in the backward pass), and copies and products in every
    element-wise op, which the suite does not do. The ops between (ReLU, LayerNorm's normalisation,
    the residual sums) keep PyTorch's forward-mode rules."""
    primal, tangent = fwAD.unpack_dual(x)
    if tangent is None:
        return op(x)
    return fwAD.make_dual(op(primal), tangent_op(tangent))


def layer_norm(h: torch.Tensor, gain: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """LayerNorm over the channels, written out as simplex-cnn.ts's is: the backward pass through
    F.layer_norm's forward-mode derivative is wrong in PyTorch 1.13 (it treats the saved mean and
    rstd as constants; checked against finite differences), while these elementary ops are right."""
    centred = h - h.mean(-1, keepdim=True)
    normed = centred * ((centred * centred).mean(-1, keepdim=True) + LAYER_NORM_EPS).rsqrt()
    return with_tangent_rule(normed, lambda n: n * gain + shift, lambda z: z * gain)


class ResidualBlock(nn.Module):
    """One of simplex-cnn.ts's blocks: time embedding added, LayerNorm, dilated convolution, ReLU."""

    def __init__(self, hidden: int, dilation: int, length: int):
        super().__init__()
        self.time = nn.Linear(hidden, hidden)  # U(+-1/sqrt(fan in)) weights and biases, as the suite's Dense
        self.gain = nn.Parameter(torch.ones(hidden))
        self.shift = nn.Parameter(torch.zeros(hidden))
        self.conv = ToeplitzConv1d(hidden, hidden, KERNEL, dilation, length)

    def forward(self, feat: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        time_shift = self.time(time).unsqueeze(1)
        with_time = with_tangent_rule(feat, lambda f: f + time_shift, lambda z: z)
        return torch.relu(self.conv(layer_norm(with_time, self.gain, self.shift)))


class SimplexCnn(nn.Module):
    """simplex-cnn.ts's SimplexCnn: Gaussian Fourier time features -> Dense -> ReLU; a kernel-9 input
    convolution and ReLU; residual blocks; two 1x1 convolutions (ReLU between) to K logits per position."""

    def __init__(self, length: int, classes: int, hidden: int, layers: int):
        super().__init__()
        half = math.ceil(hidden / 2)
        self.register_buffer("frequencies", torch.randn(1, half) * FOURIER_SCALE * 2 * math.pi)
        self.time_dense = nn.Linear(2 * half, hidden)
        self.input = ToeplitzConv1d(classes, hidden, KERNEL, 1, length)
        self.blocks = nn.ModuleList(ResidualBlock(hidden, DILATIONS[i % len(DILATIONS)], length) for i in range(layers))
        self.inner = ToeplitzConv1d(hidden, hidden, 1, 1, length)
        self.outer = ToeplitzConv1d(hidden, classes, 1, 1, length)

    def time_embedding(self, tau: torch.Tensor) -> torch.Tensor:
        angles = tau @ self.frequencies
        return torch.relu(self.time_dense(torch.cat([torch.sin(angles), torch.cos(angles)], 1)))

    def trunk(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        feat = torch.relu(self.input(x))
        for block in self.blocks:
            feat = feat + block(feat, time)
        return self.outer(torch.relu(self.inner(feat)))

    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        return self.trunk(x, self.time_embedding(tau))

    def logits_with_tangents(self, x: torch.Tensor, tau: torch.Tensor, tangents: torch.Tensor):
        """Logits [B, L, K] and their JVPs in x along tangents [T, B, L, K] (logitsWithTangents), by
        self.jvp: 'forward-ad' or 'tangent-pass'. Both stay in the autograd graph, so the training step
        backpropagates through the JVPs."""
        if self.jvp == "tangent-pass":
            return self.tangent_pass(x, tau, tangents)
        return self.forward_ad(x, tau, tangents)

    def forward_ad(self, x: torch.Tensor, tau: torch.Tensor, tangents: torch.Tensor):
        """torch.autograd.forward_ad's dual tensors rather than double backpropagation: one tangent
        pass per probe, as the suite's, where the double-backward trick adds a reverse pass and its
        derivative per probe. A dual tensor has one tangent, so the batch is repeated per probe: the
        primal runs T times where the suite's runs once."""
        count, batch = tangents.shape[:2]
        time = self.time_embedding(tau).repeat(count, 1)
        with fwAD.dual_level():
            dual = fwAD.make_dual(x.repeat(count, 1, 1), tangents.flatten(0, 1))
            logits, jvp = fwAD.unpack_dual(self.trunk(dual, time))
        return logits[:batch], jvp.view(tangents.shape)

    def tangent_pass(self, x: torch.Tensor, tau: torch.Tensor, tangents: torch.Tensor):
        """The tangents carried beside the activations by hand, as simplex-cnn.ts's pass does: one
        primal pass, each layer's linear part applied to the tangent stack, ReLU's derivative and
        LayerNorm's tangent map written out. The same algorithm as the suite's."""
        count, batch = tangents.shape[:2]

        def linear(conv: ToeplitzConv1d, v: torch.Tensor) -> torch.Tensor:
            c, h, _, length = conv.shape
            rows = v.reshape(-1, c) if conv.pointwise else v.reshape(-1, length * c)
            return (rows @ conv.matrix()).view(count, batch, length, h)

        time = self.time_embedding(tau)
        a = self.input(x)
        feat = torch.relu(a)
        d_feat = linear(self.input, tangents) * (a > 0)
        for block in self.blocks:
            h = feat + block.time(time).unsqueeze(1)
            centred = h - h.mean(-1, keepdim=True)
            inv_sd = ((centred * centred).mean(-1, keepdim=True) + LAYER_NORM_EPS).rsqrt()
            normed = centred * inv_sd
            d_normed = (d_feat - d_feat.mean(-1, keepdim=True) - normed * (normed * d_feat).mean(-1, keepdim=True)) * inv_sd
            a = block.conv(normed * block.gain + block.shift)
            feat = feat + torch.relu(a)
            d_feat = d_feat + linear(block.conv, d_normed * block.gain) * (a > 0)
        a = self.inner(feat)
        d_hidden = linear(self.inner, d_feat) * (a > 0)
        return self.outer(torch.relu(a)), linear(self.outer, d_hidden)


def dna_toy_target(length: int, classes: int) -> torch.Tensor:
    """toyTarget (src/tasks/dna-toy.ts): per-position categoricals softmax(U(0,1)^K), [L, K]."""
    return torch.softmax(torch.rand(length, classes, generator=torch.Generator().manual_seed(0)), -1)


def token_batch(probs: torch.Tensor, batch: int) -> dict:
    """A training batch of DnaToyExperiment.loss on the linear path: tokens from the target, t uniform
    on [0, LINEAR_T_MAX), x_t = t e_k + (1 - t) x0 with x0 ~ Dir(1_K) per position (simplex.ts)."""
    length, classes = probs.shape
    target = F.one_hot(torch.multinomial(probs, batch, replacement=True).T, classes).float()
    t = LINEAR_T_MAX * torch.rand(batch)
    gamma = torch.empty(batch, length, classes).exponential_()  # Gamma(1) draws, normalised: Dir(1_K)
    tt = t.view(batch, 1, 1)
    x = (1 - tt) * gamma / gamma.sum(-1, keepdim=True) + tt * target
    return {"x": x, "tau": t.view(batch, 1), "target": target}


def linear_conditional(batch: dict) -> dict:
    """conditionalBatch (src/paths/simplex-batch.ts) on the linear path: c = 1/(1 - t) at every class,
    dc/db = 0, u = c (e_k - x), tangent score 0, div u = -L (K - 1) c, w = min(1, L (K - 1) / |div u|)."""
    x, tau, target = batch["x"], batch["tau"], batch["target"]
    length, classes = x.shape[1:]
    c = 1 / (1 - tau.squeeze(1))
    speed = c.view(-1, 1, 1).expand_as(x)
    div_u = -length * (classes - 1) * c
    return {
        **batch,
        "speed": speed,
        "slope": torch.zeros_like(x),
        "u": speed * (target - x),
        "score": torch.zeros_like(x),
        "div_u": div_u,
        "weight": torch.clamp(length * (classes - 1) / div_u.abs(), max=1),
    }


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The denoiser loss (simplex-loss.ts crossEntropy): mean over sequences and positions."""
    return -(target * torch.log_softmax(logits, -1)).sum(-1).mean()


def tangent_probes(count: int, x: torch.Tensor) -> torch.Tensor:
    """Rademacher probes for points x, projected onto the simplex's tangent space (class mean removed), [T, B, L, K]."""
    z = torch.randint(0, 2, (count, *x.shape)).to(x.dtype) * 2 - 1
    return z - z.mean(-1, keepdim=True)


def simplex_fdm_loss(model: SimplexCnn, batch: dict, lam: float) -> torch.Tensor:
    """simplexFdmLoss with simplexResidualEstimates: per probe z, r(z) = z^T (J_v - D) z + (1 - 1/K)
    sum D - div u + (v - u) . s, with v = sum_j p_j c_j (e_j - x) the denoiser's field and D the known
    diagonal of its Jacobian; then lambda mean(w^2 r(z1) r(z2)) (weightedSquare, unbiased, 2 probes)."""
    x, speed, slope = batch["x"], batch["speed"], batch["slope"]
    z = tangent_probes(DNA_PROBES, x)
    logits, jvp = model.logits_with_tangents(x, batch["tau"], z)
    p = torch.softmax(logits, -1)
    weighted = p * speed
    v = weighted - weighted.sum(-1, keepdim=True) * x
    d_probs_c = p * (jvp - (p * jvp).sum(-1, keepdim=True)) * speed
    off_diagonal = d_probs_c - (d_probs_c + p * slope * z).sum(-1, keepdim=True) * x
    quadratic = (z * off_diagonal).sum((-2, -1))  # [T, B]
    diagonal_trace = (p * slope - weighted.sum(-1, keepdim=True)).sum((1, 2)) * (1 - 1 / x.shape[-1])
    mismatch = ((v.detach() - batch["u"]) * batch["score"]).sum((1, 2))  # stop-gradient on v, as stopGrad
    per_probe = quadratic + diagonal_trace - batch["div_u"] + mismatch
    pairs = per_probe.sum(0) ** 2 - (per_probe**2).sum(0)
    cdm = (batch["weight"] ** 2 * pairs / (DNA_PROBES * (DNA_PROBES - 1))).mean()
    return cross_entropy(logits, batch["target"]) + lam * cdm


def dna_toy_loss(model: SimplexCnn, probs: torch.Tensor, batch: int, method: str, lam: float) -> torch.Tensor:
    """One step's loss: the suite's CFM step (un-logged iterations, as bench's) draws no speeds."""
    tokens = token_batch(probs, batch)
    if method == "cfm":
        return cross_entropy(model(tokens["x"], tokens["tau"]), tokens["target"])
    return simplex_fdm_loss(model, linear_conditional(tokens), lam)


def checkerboard_step(args):
    """The checkerboard model and its loss as a function of the method."""
    model = mlp(args.hidden or 512)
    return model, lambda method: step_loss(model, args.batch_size, method, LAMBDA)


def dna_toy_step(args):
    """The dna-toy CNN and its loss as a function of the method."""
    model = SimplexCnn(DNA_LENGTH, DNA_CLASSES, args.hidden or 128, DNA_DEPTH)
    model.jvp = args.jvp
    probs = dna_toy_target(DNA_LENGTH, DNA_CLASSES)
    return model, lambda method: dna_toy_loss(model, probs, args.batch_size, method, LAMBDA)


TASKS = {"checkerboard": checkerboard_step, "dna-toy": dna_toy_step}


def rk4(rhs, y: torch.Tensor, t0: float, t1: float, steps: int) -> torch.Tensor:
    """Classical Runge-Kutta with fixed steps from t0 to t1 (src/solvers: rk4, 4 evaluations per step)."""
    dt = (t1 - t0) / steps
    for i in range(steps):
        t = t0 + i * dt
        k1 = rhs(t, y)
        k2 = rhs(t + dt / 2, y + dt / 2 * k1)
        k3 = rhs(t + dt / 2, y + dt / 2 * k2)
        k4 = rhs(t + dt, y + dt * k3)
        y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


def field(model: nn.Module, x: torch.Tensor, t: float) -> torch.Tensor:
    return model(torch.cat([x, torch.full((x.shape[0], 1), t)], 1))


def sample(model: nn.Module, noise: torch.Tensor, steps: int) -> torch.Tensor:
    """Sampling (solvers/flow.ts sampleFlow): the ODE from noise at t = 0 to data at t = 1."""
    with torch.no_grad():
        return rk4(lambda t, x: field(model, x, t), noise, 0.0, 1.0, steps)


def log_density(model: nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    """The log-density (solvers/flow.ts logLikelihood): [x, 0] from t = 1 back to 0 with d/dt log p =
    -div v, the exact 2D divergence from one reverse pass per coordinate (no graph kept); then the
    standard normal's log-density at the end point."""
    def rhs(t: float, state: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            xt = state[:, :2].detach().requires_grad_(True)
            v = field(model, xt, t)
            div = sum(torch.autograd.grad(v[:, i].sum(), xt, retain_graph=i == 0)[0][:, i] for i in range(2))
        return torch.cat([v.detach(), -div.unsqueeze(1)], 1)

    with torch.no_grad():
        end = rk4(rhs, torch.cat([x, torch.zeros(x.shape[0], 1)], 1), 1.0, 0.0, steps)
        return -0.5 * (end[:, :2] ** 2).sum(1) - math.log(2 * math.pi) - end[:, 2]


def time_evaluation(args) -> dict:
    """Points per second of sampling and of the log-density, batch by batch, for the untrained
    checkerboard MLP (as `fdm-bench bench checkerboard --evaluation --solver rk4`)."""
    torch.manual_seed(0)
    model = mlp(args.hidden or 512)
    for p in model.parameters():
        p.requires_grad_(False)
    noise = torch.randn(args.eval_points, 2)
    batches = lambda x: torch.split(x, args.eval_batch)  # noqa: E731
    phases = {
        "sampling": lambda: torch.cat([sample(model, b, args.eval_steps) for b in batches(noise)]),
        "log-density": lambda: torch.cat([log_density(model, b, args.eval_steps) for b in batches(noise)]),
    }
    result = {}
    for phase, call in phases.items():
        call()  # untimed, as bench's first call
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            call()
            seconds.append(time.perf_counter() - start)
        median = statistics.median(seconds)
        result[phase] = {"median_s": median, "points_per_s": args.eval_points / median}
    result["solver"] = f"rk4, {args.eval_steps} steps"
    result["batch"] = args.eval_batch
    return result


def time_method(method: str, args) -> dict:
    torch.manual_seed(0)
    model, loss = TASKS[args.task](args)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss(method).backward()
        optimizer.step()
        if i >= args.warmup:
            times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(times), "mean_ms": statistics.mean(times), "sd_ms": statistics.stdev(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", choices=tuple(TASKS), default="checkerboard")
    parser.add_argument("--path", choices=("linear",), default="linear", help="dna-toy's simplex path (Dirichlet: see above)")
    parser.add_argument(
        "--jvp",
        choices=("forward-ad", "tangent-pass"),
        default="forward-ad",
        help="dna-toy's JVPs: PyTorch's forward-mode AD, or the tangents carried by hand as the suite does",
    )
    parser.add_argument("--hidden", type=int, default=None, help="hidden width (default: the paper preset's, 512 checkerboard, 128 dna-toy)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 matches the single-threaded wasm backend)")
    parser.add_argument("--evaluation", action="store_true", help="checkerboard: time sampling and the log-density instead of training steps")
    parser.add_argument("--eval-points", type=int, default=2000)
    parser.add_argument("--eval-steps", type=int, default=100, help="rk4 steps")
    parser.add_argument("--eval-batch", type=int, default=1000, help="points per solver batch (eval.batchSize)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.evaluation:
        if args.task != "checkerboard":
            parser.error("--evaluation times the checkerboard MLP only")
        result = time_evaluation(args)
    else:
        result = {method: time_method(method, args) for method in ("cfm", "fdm")}
        result["fdm_cfm_ratio"] = result["fdm"]["median_ms"] / result["cfm"]["median_ms"]
    result["torch"] = torch.__version__
    result["threads"] = args.threads
    result["task"] = args.task
    if args.task == "dna-toy":
        result["path"] = args.path
        result["jvp"] = args.jvp
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
