#!/usr/bin/python3
"""PyTorch reference for `npm run bench:train`: EfficientNet-B0 (the same architecture as ours,
from scripts/fixtures/make_engine_fixtures.py) training steps (forward, backward, AdamW) at
batch 8, 2 threads. Prints one JSON line: {"imgPerSec", "peakRssMB", "secPerStep", "cpuSecPerStep"}.

  /usr/bin/python3 bench/train_ref.py --size 224 --steps 3 [--infer]
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'scripts', 'fixtures'))
from make_engine_fixtures import EfficientNet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--infer', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = EfficientNet(1.0, 1.0, 5)
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.randint(0, 5, (a.batch,))
    if a.infer:
        model.eval()
        with torch.no_grad():
            model(x)  # warm-up
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(a.steps):
                model(x)
            dt = (time.perf_counter() - t0) / a.steps
            cpu = (time.process_time() - c0) / a.steps
    else:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()

        step()  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.steps):
            step()
        dt = (time.perf_counter() - t0) / a.steps
        cpu = (time.process_time() - c0) / a.steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({'imgPerSec': a.batch / dt, 'peakRssMB': rss, 'secPerStep': dt, 'cpuSecPerStep': cpu}))


if __name__ == '__main__':
    main()
