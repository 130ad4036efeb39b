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
on both paths.

--task moving-mnist: configs/moving-mnist.yaml's paper preset, the latent flow of stage 2 (what bench
times; stage 1's autoencoder is skipped for timing there too): src/models/conv-field.ts's
ConvLatentField on the 8x8x4 latent grid (d = 256) of 64x64 frames, width 128, 4 residual blocks of
3x3 'same' convolutions with FiLM (1 + scale, offset per channel from swish(E [t, sin(k pi t),
cos(k pi t), distance]), k = 1, 2, 4, 8) and swish, conditioned on 2 latent grids (previous frame,
a random earlier one) and 1 scalar (its distance): 774,148 parameters, as the suite's. Batch 256,
Adam, CondOT path (sigma_min 0, t ~ U[0, 1 - 1e-5)); CFM is mean |v - u|^2, FDM adds lambda 0.001
E[(w r)^2], w = sigma_t, r = z^T J_v z - div u + (v - u) . s with v stop-gradiented in the last
term, by the unbiased product of two Rademacher-probe estimates (hutchinson-unbiased, 2 probes).
The latents are random: the previous and earlier frames' N(0, I) normalised per frame as the
encoder normalises its latents, the target (the change from the previous frame) FRAME_CHANGE times
N(0, I), the scale of the suite's timing-only (untrained-autoencoder) targets; the step's work does
not depend on them. Layout NCHW (PyTorch's) where the suite's is channels-last; the flat latent keeps
the suite's order. --jvp as for dna-toy: forward_ad repeats the primal per probe (4 passes' worth of
convolutions forward where the suite's tangent pass has 3); tangent-pass is the suite's algorithm.
--check compares the two in float64 on a small field (values, JVPs, FDM loss gradients) and
against central differences."""
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


# moving-mnist at its paper preset (configs/moving-mnist.yaml): 64x64 frames, 3 down-samplings, 4
# latent channels; the stage-2 field's width and depth; 10 + 10 frames.
MM_GRID = 8
MM_CHANNELS = 4
MM_DEPTH = 4
MM_FRAMES = 20
MM_LAMBDA = 0.001
MM_PROBES = 2
T_MAX = 1 - 1e-5  # src/paths/time-sampling.ts
# The root mean square of the target (the latent's change from the previous frame) at the suite's
# timing-only stage 1 (untrained autoencoder): mean square 0.0035 measured on its training batch.
FRAME_CHANGE = 0.06
# From src/models/conv-field.ts.
TIME_FREQUENCIES = (1, 2, 4, 8)


def uniform_parameter(shape, fan_in: int) -> nn.Parameter:
    """ParamFactory.make (src/models/params.ts): U(+-1/sqrt(fan in)), PyTorch's default."""
    bound = 1 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


def conv3(x: torch.Tensor, weight: torch.Tensor, bias=None) -> torch.Tensor:
    """convSame: a stride-1 'same' (zero-padded) 3x3 convolution, NCHW."""
    return F.conv2d(x, weight, bias, padding=1)


def swish_with_derivative(a: torch.Tensor):
    """activations.ts swishWithDerivative: a sigmoid(a) and its derivative s (1 + a (1 - s))."""
    s = torch.sigmoid(a)
    return a * s, s * (1 + a * (1 - s))


class ConvLatentField(nn.Module):
    """conv-field.ts's ConvLatentField, the same parameters (20 tensors, its fan-ins), convolution
    weights in PyTorch's [out, in, 3, 3] layout:

      a_0 = conv(x, Wx) + conv(condition grids, Wc) + b_0
      a_i = a_(i-1) + conv(swish((1 + s_i) a_(i-1) + e_i), W_i) + b_i        i = 1..blocks
      v   = conv(swish((1 + s_out) a_B + e_out), W_out) + b_out

    (s_i, e_i) = M_i swish(E [t, sin(k pi t), cos(k pi t), scalars] + b_E). x and the condition
    rows are the suite's flat channels-last latents, [B, g g C] and [B, grids g g C + scalars]."""

    def __init__(self, grid: int, channels: int, condition_grids: int, condition_scalars: int, width: int, blocks: int):
        super().__init__()
        self.shape = (grid, channels, condition_grids, condition_scalars, width)
        self.dim = grid * grid * channels
        input_fan_in = 9 * channels * (1 + condition_grids)
        self.input_x = uniform_parameter((width, channels, 3, 3), input_fan_in)
        self.input_condition = uniform_parameter((width, channels * condition_grids, 3, 3), input_fan_in)
        self.input_bias = uniform_parameter((width,), input_fan_in)
        features = 1 + 2 * len(TIME_FREQUENCIES) + condition_scalars
        self.embed_in = uniform_parameter((features, width), features)
        self.embed_bias = uniform_parameter((width,), features)
        self.modulations = nn.ParameterList(uniform_parameter((width, 2 * width), width) for _ in range(blocks + 1))
        self.block_weights = nn.ParameterList(uniform_parameter((width, width, 3, 3), 9 * width) for _ in range(blocks))
        self.block_biases = nn.ParameterList(uniform_parameter((width,), 9 * width) for _ in range(blocks))
        self.out_weight = uniform_parameter((channels, width, 3, 3), 9 * width)
        self.out_bias = uniform_parameter((channels,), 9 * width)
        self.register_buffer("frequencies", torch.tensor([k * math.pi for k in TIME_FREQUENCIES]))

    def grids(self, flat: torch.Tensor, count: int) -> torch.Tensor:
        """count channels-last grids side by side [B, count g g C] -> NCHW [B, count C, g, g], channel j C + c."""
        grid, channels = self.shape[:2]
        return flat.reshape(-1, count, grid, grid, channels).permute(0, 1, 4, 2, 3).reshape(-1, count * channels, grid, grid)

    def flat(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW [N, C, g, g] -> the flat channels-last latent [N, g g C]."""
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)

    def modulation(self, t: torch.Tensor, scalars: torch.Tensor):
        """Per block then the output: 1 + scale and offset, [B, width, 1, 1] each."""
        angles = t * self.frequencies
        features = torch.cat([t, torch.sin(angles), torch.cos(angles), scalars], 1)
        hidden = F.silu(features @ self.embed_in + self.embed_bias)
        films = []
        for m in self.modulations:
            scale, offset = (hidden @ m)[:, :, None, None].chunk(2, 1)
            films.append((scale + 1, offset))
        return films

    def inputs(self, t: torch.Tensor, condition: torch.Tensor):
        """The FiLM terms and the condition grids' share of a_0 plus b_0: what does not depend on x."""
        grids = self.shape[2]
        split = grids * self.dim
        films = self.modulation(t, condition[:, split:])
        return films, conv3(self.grids(condition[:, :split], grids), self.input_condition, self.input_bias)

    def trunk(self, x: torch.Tensor, films, conditioned: torch.Tensor) -> torch.Tensor:
        """v for x [N, g g C] (dual or not): the operands without tangents (weights, FiLM, the
        condition's share) through with_tangent_rule, as dna-toy's; swish and the residual sums
        keep PyTorch's forward-mode rules."""
        x = self.grids(x, 1)
        a = with_tangent_rule(x, lambda y: conv3(y, self.input_x) + conditioned, lambda z: conv3(z, self.input_x))
        for (gain, offset), weight, bias in zip(films, self.block_weights, self.block_biases):
            h = F.silu(with_tangent_rule(a, lambda y: y * gain + offset, lambda z: z * gain))
            a = a + with_tangent_rule(h, lambda y: conv3(y, weight, bias), lambda z: conv3(z, weight))
        gain, offset = films[-1]
        h = F.silu(with_tangent_rule(a, lambda y: y * gain + offset, lambda z: z * gain))
        return self.flat(with_tangent_rule(h, lambda y: conv3(y, self.out_weight, self.out_bias), lambda z: conv3(z, self.out_weight)))

    def forward(self, x: torch.Tensor, t: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.trunk(x, *self.inputs(t, condition))

    def field_with_tangents(self, x: torch.Tensor, t: torch.Tensor, condition: torch.Tensor, tangents: torch.Tensor):
        """v [B, d] and its JVPs in x along tangents [T, B, d] (forwardWithTangents), by self.jvp:
        'forward-ad' or 'tangent-pass'. Both stay in the autograd graph."""
        if self.jvp == "tangent-pass":
            return self.tangent_pass(x, t, condition, tangents)
        return self.forward_ad(x, t, condition, tangents)

    def forward_ad(self, x: torch.Tensor, t: torch.Tensor, condition: torch.Tensor, tangents: torch.Tensor):
        """Dual tensors, one tangent each: the batch repeated per probe, so the primal runs T times
        where the suite's runs once (the FiLM terms and the condition's share are computed once)."""
        count, batch = tangents.shape[:2]
        films, conditioned = self.inputs(t, condition)
        films = [(gain.repeat(count, 1, 1, 1), offset.repeat(count, 1, 1, 1)) for gain, offset in films]
        with fwAD.dual_level():
            dual = fwAD.make_dual(x.repeat(count, 1), tangents.flatten(0, 1))
            v, jvp = fwAD.unpack_dual(self.trunk(dual, films, conditioned.repeat(count, 1, 1, 1)))
        return v[:batch], jvp.view(tangents.shape)

    def tangent_pass(self, x: torch.Tensor, t: torch.Tensor, condition: torch.Tensor, tangents: torch.Tensor):
        """conv-field.ts's run with tangents: one primal pass, the tangent stack [T B, w, g, g]
        through the same convolutions (no biases), times each swish's derivative (with its FiLM gain)."""
        count, batch = tangents.shape[:2]
        films, conditioned = self.inputs(t, condition)

        def scaled(stack: torch.Tensor, dh: torch.Tensor) -> torch.Tensor:
            return (stack.view(count, batch, *dh.shape[1:]) * dh).view(stack.shape)

        def modulated_swish(a: torch.Tensor, film):
            gain, offset = film
            h, dh = swish_with_derivative(a * gain + offset)
            return h, dh * gain

        a = conv3(self.grids(x, 1), self.input_x) + conditioned
        da = conv3(self.grids(tangents.flatten(0, 1), 1), self.input_x)
        for film, weight, bias in zip(films, self.block_weights, self.block_biases):
            h, dh = modulated_swish(a, film)
            a = a + conv3(h, weight, bias)
            da = da + conv3(scaled(da, dh), weight)
        h, dh = modulated_swish(a, films[-1])
        v = self.flat(conv3(h, self.out_weight, self.out_bias))
        return v, self.flat(conv3(scaled(da, dh), self.out_weight)).view(tangents.shape)


def normalised(latents: torch.Tensor) -> torch.Tensor:
    """normaliseLatent (frame-autoencoder.ts): each row to mean 0 and variance 1."""
    centred = latents - latents.mean(1, keepdim=True)
    return centred * (centred.square().mean(1, keepdim=True) + 1e-5).rsqrt()


def video_batch(batch: int, dim: int) -> dict:
    """VideoExperiment.loss's batch with random latents (see above): target x1 (the change from the
    previous frame), condition rows [previous, earlier frame, distance] (randomContext's distance),
    x0 ~ N(0, I), t ~ U[0, T_MAX); then AffinePath.sample on CondOT: x_t = t x1 + (1 - t) x0,
    u = x1 - x0, score -x0 / sigma, div u = -d / sigma, weight sigma."""
    x1 = FRAME_CHANGE * torch.randn(batch, dim)
    tau = torch.randint(2, MM_FRAMES, (batch,))
    context = (torch.rand(batch) * (tau - 1)).floor()
    distance = ((tau - 1 - context) / MM_FRAMES).view(batch, 1)
    condition = torch.cat([normalised(torch.randn(batch, dim)), normalised(torch.randn(batch, dim)), distance], 1)
    x0 = torch.randn(batch, dim)
    t = T_MAX * torch.rand(batch, 1)
    sigma = 1 - t
    return {
        "xt": t * x1 + sigma * x0,
        "t": t,
        "condition": condition,
        "u": x1 - x0,
        "score": -x0 / sigma,
        "div_u": -dim / sigma.squeeze(1),
        "weight": sigma.squeeze(1),
    }


def rademacher(count: int, x: torch.Tensor) -> torch.Tensor:
    """drawProbes: count Rademacher probes per sample, [T, B, d]."""
    return torch.randint(0, 2, (count, *x.shape)).to(x.dtype) * 2 - 1


def video_fdm_loss(model: ConvLatentField, batch: dict, probes: torch.Tensor, lam: float) -> torch.Tensor:
    """flowLoss, FDM paper variant, hutchinson-unbiased: per probe r(z) = z^T J_v z - div u + (v - u) . s
    (v stop-gradiented there, stopGrad on), then lambda mean(w^2 ((sum r)^2 - sum r^2) / (T (T - 1)))."""
    v, jvp = model.field_with_tangents(batch["xt"], batch["t"], batch["condition"], probes)
    cfm = ((v - batch["u"]) ** 2).mean()
    known = ((v.detach() - batch["u"]) * batch["score"]).sum(1) - batch["div_u"]
    per_probe = (probes * jvp).sum(-1) + known  # [T, B]
    count = probes.shape[0]
    pairs = per_probe.sum(0) ** 2 - (per_probe**2).sum(0)
    cdm = (batch["weight"] ** 2 * pairs / (count * (count - 1))).mean()
    return cfm + lam * cdm


def moving_mnist_loss(model: ConvLatentField, batch_size: int, method: str, lam: float) -> torch.Tensor:
    batch = video_batch(batch_size, model.dim)
    if method == "cfm":
        return ((model(batch["xt"], batch["t"], batch["condition"]) - batch["u"]) ** 2).mean()
    return video_fdm_loss(model, batch, rademacher(MM_PROBES, batch["xt"]), lam)


def moving_mnist_field(width: int, depth: int = MM_DEPTH, grid: int = MM_GRID, channels: int = MM_CHANNELS) -> ConvLatentField:
    """latentField (video-conditioning.ts): 2 condition grids (previous and earlier frame), 1 scalar (distance)."""
    return ConvLatentField(grid, channels, 2, 1, width, depth)


def moving_mnist_step(args):
    """The moving-mnist latent field and its loss as a function of the method."""
    model = moving_mnist_field(args.hidden or 128)
    model.jvp = args.jvp
    return model, lambda method: moving_mnist_loss(model, args.batch_size, method, MM_LAMBDA)


def check_moving_mnist() -> dict:
    """forward-ad against tangent-pass in float64 on a small field (grid 4, 2 channels, width 8, 2
    blocks, batch 3, 2 probes): v, the JVPs, the FDM loss's gradients; the JVPs against central
    differences of v. Max abs differences."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(0)
        model = moving_mnist_field(8, depth=2, grid=4, channels=2)
        batch = video_batch(3, model.dim)
        probes = rademacher(MM_PROBES, batch["xt"])
        out = {}
        for jvp in ("forward-ad", "tangent-pass"):
            model.jvp = jvp
            model.zero_grad()
            video_fdm_loss(model, batch, probes, 1.0).backward()
            v, tangents = model.field_with_tangents(batch["xt"], batch["t"], batch["condition"], probes)
            out[jvp] = (v.detach(), tangents.detach(), torch.cat([p.grad.flatten() for p in model.parameters()]))
        (v_ad, jvp_ad, grad_ad), (v_tp, jvp_tp, grad_tp) = out["forward-ad"], out["tangent-pass"]
        eps = 1e-6
        with torch.no_grad():
            field = lambda x: model(x, batch["t"], batch["condition"])  # noqa: E731
            fd = torch.stack([(field(batch["xt"] + eps * z) - field(batch["xt"] - eps * z)) / (2 * eps) for z in probes])
        max_diff = lambda a, b: (a - b).abs().max().item()  # noqa: E731
        return {
            "v": max_diff(v_ad, v_tp),
            "jvp": max_diff(jvp_ad, jvp_tp),
            "fdm_loss_gradient": max_diff(grad_ad, grad_tp),
            "fdm_loss_gradient_max_abs": grad_tp.abs().max().item(),
            "jvp_vs_central_difference": max(max_diff(jvp_ad, fd), max_diff(jvp_tp, fd)),
            "jvp_max_abs": jvp_tp.abs().max().item(),
        }
    finally:
        torch.set_default_dtype(default)


TASKS = {"checkerboard": checkerboard_step, "dna-toy": dna_toy_step, "moving-mnist": moving_mnist_step}


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
        help="dna-toy's and moving-mnist's JVPs: PyTorch's forward-mode AD, or the tangents carried by hand as the suite does",
    )
    parser.add_argument("--hidden", type=int, default=None, help="hidden width (default: the paper preset's, 512 checkerboard, 128 dna-toy and moving-mnist)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the paper preset's, 512 checkerboard and dna-toy, 256 moving-mnist")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 matches the single-threaded wasm backend)")
    parser.add_argument("--evaluation", action="store_true", help="checkerboard: time sampling and the log-density instead of training steps")
    parser.add_argument("--eval-points", type=int, default=2000)
    parser.add_argument("--eval-steps", type=int, default=100, help="rk4 steps")
    parser.add_argument("--eval-batch", type=int, default=1000, help="points per solver batch (eval.batchSize)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="moving-mnist: compare forward-ad and tangent-pass in float64 on a small field instead of timing")
    args = parser.parse_args()
    args.batch_size = args.batch_size or (256 if args.task == "moving-mnist" else 512)
    torch.set_num_threads(args.threads)
    if args.check:
        if args.task != "moving-mnist":
            parser.error("--check compares moving-mnist's two JVPs")
        result = {"check": check_moving_mnist()}
    elif args.evaluation:
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
    if args.task == "moving-mnist":
        result["path"] = "condot"
        if not args.check:
            result["jvp"] = args.jvp
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
