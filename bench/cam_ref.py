"""Reference for `npm run bench:cam`: Grad-CAM++ per image with PyTorch forward/backward hooks,
the way pytorch-grad-cam computes it (hooks on the head activation, backward of the logit,
NumPy weights, cv2 resize, min-max), on torchvision's efficientnet_b0 (random weights, eval mode,
one logit) at the given size, torch.set_num_threads(threads).

    /usr/bin/python3 bench/cam_ref.py --size 448 --n 8 --threads 2
Prints one JSON line: {"ms_per_image": ..., "forward_ms": ..., "torch": ..., "threads": ...}.
"""
import argparse
import json
import time

import cv2
import numpy as np
import torch
import torchvision


def gradcampp(model, x, store):
    logits = model(x)
    model.zero_grad()
    logits[:, 0].sum().backward()
    A = store['a'].detach().numpy()
    g = store['g'].detach().numpy()
    g2, g3 = g ** 2, g ** 3
    denom = 2 * g2 + A.sum(axis=(2, 3))[:, :, None, None] * g3
    denom = np.where(denom != 0, denom, 1.0)
    w = (g2 / denom * np.maximum(g, 0)).sum(axis=(2, 3))
    cam = np.maximum((w[:, :, None, None] * A).sum(axis=1), 0)
    out = []
    for c in cam:
        up = cv2.resize(c.astype(np.float32), (x.shape[-1], x.shape[-2]), interpolation=cv2.INTER_LINEAR)
        up -= up.min()
        out.append(up / (up.max() + 1e-12))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--size', type=int, default=448)
    ap.add_argument('--n', type=int, default=8)
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.efficientnet_b0(weights=None, num_classes=1).eval()
    store = {}

    def fwd_hook(_m, _i, out):
        store['a'] = out
        if out.requires_grad:
            out.register_hook(lambda grad: store.__setitem__('g', grad))

    model.features.register_forward_hook(fwd_hook)
    rng = np.random.default_rng(0)
    xs = [torch.from_numpy(rng.normal(0, 1, (1, 3, args.size, args.size)).astype(np.float32)) for _ in range(args.n)]
    gradcampp(model, xs[0], store)  # warm-up
    times = []
    for x in xs:
        t0 = time.perf_counter()
        gradcampp(model, x, store)
        times.append(time.perf_counter() - t0)
    # Context: the forward pass alone (no hooks' backward), to show where the time goes.
    fwd = []
    with torch.no_grad():
        for x in xs:
            t0 = time.perf_counter()
            model(x)
            fwd.append(time.perf_counter() - t0)
    print(json.dumps({'ms_per_image': 1000 * float(np.median(times)), 'mean_ms': 1000 * float(np.mean(times)),
                      'forward_ms': 1000 * float(np.median(fwd)), 'torch': torch.__version__, 'threads': args.threads}))


if __name__ == '__main__':
    main()
