#!/usr/bin/env python3
"""Times one training step of CFM and FDM on the checkerboard at the paper size in PyTorch on the
CPU, to set beside `fdm-bench bench checkerboard --preset paper` (same MLP 4x512 Swish, batch 512,
Adam, CondOT path, FDM with the exact 2D divergence by double backpropagation, stop-gradient on).
Needs PyTorch (Debian: apt-get install python3-torch). Prints one JSON object."""
import argparse
import json
import statistics
import time

import torch
from torch import nn


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


def time_method(method: str, args) -> dict:
    torch.manual_seed(0)
    model = mlp(args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        step_loss(model, args.batch_size, method, 0.1).backward()
        optimizer.step()
        if i >= args.warmup:
            times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(times), "mean_ms": statistics.mean(times), "sd_ms": statistics.stdev(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 matches the single-threaded wasm backend)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = {method: time_method(method, args) for method in ("cfm", "fdm")}
    result["fdm_cfm_ratio"] = result["fdm"]["median_ms"] / result["cfm"]["median_ms"]
    result["torch"] = torch.__version__
    result["threads"] = args.threads
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
