#!/usr/bin/env python3
"""Writes examples/points-3d.csv, the example data of `fdm-bench run points`: 1,500 points in 3D from
three anisotropic Gaussian blobs (weights 0.3, 0.25, 0.2) and a noisy ring (0.25), seed 20261203.
Standard library only; the file in the repository is this script's output."""
import math
import random

random.seed(20261203)
BLOBS = [((-2.0, 0.0, 1.0), (0.3, 0.8, 0.2), 0.3), ((2.0, 1.0, -1.0), (0.6, 0.2, 0.4), 0.25), ((0.0, -2.0, 0.0), (0.25, 0.25, 0.9), 0.2)]
rows = []
for _ in range(1500):
    u, acc = random.random(), 0.0
    for mean, sd, weight in BLOBS:
        acc += weight
        if u < acc:
            rows.append([m + s * random.gauss(0, 1) for m, s in zip(mean, sd)])
            break
    else:
        a = random.uniform(0, 2 * math.pi)
        r = 2.5 + 0.15 * random.gauss(0, 1)
        rows.append([r * math.cos(a), r * math.sin(a), 0.5 * math.sin(2 * a) + 0.1 * random.gauss(0, 1)])
with open('examples/points-3d.csv', 'w') as f:
    f.write('x1,x2,x3\n')
    for row in rows:
        f.write(','.join(f'{v:.5f}' for v in row) + '\n')
