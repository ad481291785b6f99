#!/usr/bin/python3
"""A PyTorch side-by-side for issue 10's "quick PyTorch check": fine-tune torchvision's MobileNetV2
from the shared ImageNet weights for referable DR (grade >= 2) with the issue's recipe, on a split
file of ours, and print the validation AUROC of every epoch (plain and with flip TTA). It answers
one question: does our engine reach what PyTorch reaches on the same images, and is the issue's
0.990 a property of the recipe or of its random split? Reference only; nothing in dr-xai runs it.

Recipe (the issue's): ImageNet MobileNetV2 with BatchNorm statistics frozen (eval-mode BN; the
shared weights have BN folded), new 1-logit head (dropout 0.2), BCE, AdamW lr 3e-4 one-cycle,
weight decay 1e-4, batch 32, random h/v flips and 90-degree rotations, plain 224 px images (RGB / 255,
ImageNet mean/std; none of the study's preprocessing), flip TTA (mean logit of the image and its
h, v and hv flips) at evaluation.

  /usr/bin/python3 scripts/reference/finetune_mobilenet_v2.py --data ../shared/data/aptos2019-224 \\
      --split runs/aptos224-split.csv --epochs 4 --out runs/torch-mnv2 [--random-split]

--random-split ignores the file's train/val columns and draws a random 90/10 split of the same
images (seed --seed), as the issue's check did: APTOS 2019 holds near-duplicate photographs, which a
random split puts on both sides. Writes <out>/log.jsonl (one line per epoch) and
<out>/val_predictions_epoch<k>.csv (id, grade, logit, logit_tta).
"""
import argparse
import csv
import json
import os
import time

import cv2
import numpy as np
import torch
import torch.nn as nn
import torchvision
from sklearn.metrics import roc_auc_score

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def read_safetensors(path):
    """The safetensors format (8-byte little-endian header length, JSON header, raw data), float32 only."""
    with open(path, 'rb') as f:
        n = int.from_bytes(f.read(8), 'little')
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, spec in header.items():
        if name == '__metadata__':
            continue
        begin, end = spec['data_offsets']
        dtype = {'F32': np.float32, 'I64': np.int64}[spec['dtype']]
        out[name] = torch.from_numpy(np.frombuffer(blob[begin:end], dtype=dtype).reshape(spec['shape']).copy())
    return out


def load_images(data, ids):
    x = np.empty((len(ids), 224, 224, 3), np.uint8)
    for i, id_ in enumerate(ids):
        img = cv2.imread(os.path.join(data, 'images', id_ + '.png'), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f'cannot read {id_}.png under {data}/images')
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if img.shape[:2] != (224, 224):
            img = cv2.resize(img, (224, 224), interpolation=cv2.INTER_AREA)
        x[i] = img
    return x


def to_tensor(batch_u8):
    x = (batch_u8.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def augment(batch_u8, rng):
    out = np.empty_like(batch_u8)
    for i, img in enumerate(batch_u8):
        if rng.random() < 0.5:
            img = img[:, ::-1]
        if rng.random() < 0.5:
            img = img[::-1]
        out[i] = np.rot90(img, rng.integers(4))
    return out


def frozen_bn_train(model):
    model.train()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


@torch.no_grad()
def predict(model, x_u8, batch=64):
    model.eval()
    plain, tta = [], []
    for i in range(0, len(x_u8), batch):
        x = to_tensor(x_u8[i:i + batch])
        views = [x, x.flip(3), x.flip(2), x.flip(2).flip(3)]
        logits = [model(v).squeeze(1) for v in views]
        plain.append(logits[0].numpy())
        tta.append(torch.stack(logits).mean(0).numpy())
    return np.concatenate(plain), np.concatenate(tta)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--split', required=True)
    ap.add_argument('--weights', default=os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'weights', 'mobilenet_v2-imagenet', 'mobilenet_v2-imagenet-bnfolded.safetensors'))
    ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--lr', type=float, default=3e-4)
    ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--random-split', action='store_true')
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)

    with open(a.split) as f:
        rows = [r for r in csv.DictReader(f) if r['split'] in ('train', 'val')]
    if a.random_split:
        order = rng.permutation(len(rows))
        n_val = round(0.1 * len(rows))
        for k, i in enumerate(order):
            rows[i]['split'] = 'val' if k < n_val else 'train'
    train = [r for r in rows if r['split'] == 'train']
    val = [r for r in rows if r['split'] == 'val']
    xt = load_images(a.data, [r['id'] for r in train])
    xv = load_images(a.data, [r['id'] for r in val])
    yt = np.array([int(r['grade']) >= 2 for r in train], np.float32)
    yv = np.array([int(r['grade']) >= 2 for r in val], np.int64)

    model = torchvision.models.mobilenet_v2()
    model.load_state_dict(read_safetensors(a.weights))
    model.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1))
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 1e-4}, {'params': no_decay, 'weight_decay': 0.0}], lr=a.lr)
    steps_per_epoch = len(train) // a.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.epochs * steps_per_epoch)
    loss_fn = nn.BCEWithLogitsLoss()
    log = open(os.path.join(a.out, 'log.jsonl'), 'w')
    print(f'train {len(train)} ({int(yt.sum())} referable), val {len(val)} ({int(yv.sum())} referable), '
          f'{"random" if a.random_split else "file"} split, torch {torch.__version__}, {a.threads} threads', flush=True)
    for epoch in range(1, a.epochs + 1):
        frozen_bn_train(model)
        order = rng.permutation(len(train))
        t0 = time.perf_counter()
        total = 0.0
        for s in range(steps_per_epoch):
            idx = order[s * a.batch:(s + 1) * a.batch]
            x = to_tensor(augment(xt[idx], rng))
            loss = loss_fn(model(x).squeeze(1), torch.from_numpy(yt[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        secs = time.perf_counter() - t0
        plain, tta = predict(model, xv)
        rec = {'epoch': epoch, 'train_loss': total / steps_per_epoch, 'img_per_s': steps_per_epoch * a.batch / secs,
               'val_auroc': roc_auc_score(yv, plain), 'val_auroc_tta': roc_auc_score(yv, tta)}
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + '\n')
        log.flush()
        with open(os.path.join(a.out, f'val_predictions_epoch{epoch}.csv'), 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(['id', 'grade', 'logit', 'logit_tta'])
            for r, p, q in zip(val, plain, tta):
                w.writerow([r['id'], r['grade'], f'{p:.6f}', f'{q:.6f}'])


if __name__ == '__main__':
    main()
