#!/usr/bin/python3
"""Reference fundus preprocessing in OpenCV-Python, step for step the pipeline of
src/preprocess (the reference study's steps), used two ways:

  * as a library by scripts/fixtures/make_preprocess_fixtures.py (reference outputs for tests);
  * as the reference side of `npm run bench:preprocess`:
        /usr/bin/python3 bench/preprocess_ref.py --size 448 --reduce auto [--out DIR] IMAGE...
    reads, preprocesses and (with --out) writes DIR/<name>.png (PNG compression level 6, as
    ours) for every image, and prints one JSON line {"images": n, "seconds": s, "cpu_seconds": c, ...}.
    The clock starts after the interpreter has started and cv2 is imported.

A plain single-process loop, as the study's code would be; OpenCV may use its own threads.
Images are kept in RGB order throughout (cv2.imread's BGR is converted once after decoding).
"""
import json
import os
import sys
import time

import cv2
import numpy as np

OPEN_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
CIRCLE_SHRINK = 0.98


class NoRetina(Exception):
    pass


def retina_mask(rgb, steps=None):
    """Green channel -> median 9 -> Otsu -> 9x9 elliptic opening -> largest 8-connected
    component -> its convex hull, filled -> intersect with the component's minimum enclosing
    circle shrunk to 0.98 r (the hull fill keeps dark retina, e.g. the fovea, in the mask)."""
    green = np.ascontiguousarray(rgb[:, :, 1])
    med = cv2.medianBlur(green, 9)
    thr, binary = cv2.threshold(med, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    opened = cv2.morphologyEx(binary, cv2.MORPH_OPEN, OPEN_KERNEL)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if n <= 1:
        raise NoRetina('no retina found')
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    lcc = np.where(labels == best, 255, 0).astype(np.uint8)
    # The circle of the component's outer contour is the circle of all its pixels (hull points
    # lie on the contour); cv2.minEnclosingCircle on all ~500k pixels of a 1072x712 mask takes
    # ~18 s in OpenCV 4.6, on the contour a few ms, so a real study would do this.
    contours, _ = cv2.findContours(lcc, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    (cx, cy), r = cv2.minEnclosingCircle(contours[0])
    hull = np.zeros_like(lcc)
    cv2.fillConvexPoly(hull, cv2.convexHull(contours[0]), 255)
    h, w = lcc.shape
    yy, xx = np.mgrid[0:h, 0:w]
    rr = CIRCLE_SHRINK * float(r)
    inside = (xx - float(cx)) ** 2 + (yy - float(cy)) ** 2 <= rr * rr
    mask = np.where(inside & (hull > 0), 255, 0).astype(np.uint8)
    if steps is not None:
        area = cv2.countNonZero(mask)
        # the share of the mask that Otsu called retina (the rest was filled in by the hull)
        solidity = cv2.countNonZero(cv2.bitwise_and(mask, lcc)) / area if area else 0.0
        steps.update(median=med, otsu=int(thr), binary=binary, opened=opened, lcc=lcc, hull=hull,
                     circle=(float(cx), float(cy), float(r)), solidity=solidity)
    return mask, (float(cx), float(cy), float(r))


def crop_square(img, mask):
    """Crop to the mask's bounding box, then zero-pad (centred) to a square."""
    x, y, w, h = cv2.boundingRect(mask)
    img = img[y:y + h, x:x + w]
    mask = mask[y:y + h, x:x + w]
    side = max(w, h)
    top, left = (side - h) // 2, (side - w) // 2
    img = cv2.copyMakeBorder(img, top, side - h - top, left, side - w - left, cv2.BORDER_CONSTANT, value=0)
    mask = cv2.copyMakeBorder(mask, top, side - h - top, left, side - w - left, cv2.BORDER_CONSTANT, value=0)
    return img, mask, (x, y, w, h), (left, top)


def apply_mask(img, mask):
    img[mask == 0] = 0
    return img


QUALITY_SIZE = 256
QUALITY_RIM = 2


def quality_score(img, mask, frame_area, solidity=1.0):
    """The measurements of src/preprocess/quality.ts qualityScore (its docstring defines them) on the
    masked, cropped photograph: retina share of the frame, mask solidity, mean brightness, dark
    and saturated shares, and the sharpness (std of the 3x3 Laplacian of the green channel at
    <= 256 px, over the retina minus a 2 px rim, over the mean green there). Returns a dict of
    floats (None without retina); the thresholds that turn it into a verdict stay in quality.ts.
    Whole-image OpenCV calls (countNonZero, mean with a mask, inRange), as an OpenCV user would."""
    n = cv2.countNonZero(mask)
    if n == 0:
        return None
    r, g, b = cv2.split(img)
    mean = sum(cv2.mean(img, mask)[:3]) / (3 * 255)
    dark = cv2.countNonZero(cv2.bitwise_and(cv2.inRange(cv2.max(cv2.max(r, g), b), 0, 10), mask))
    sat = cv2.countNonZero(cv2.bitwise_and(cv2.inRange(g, 250, 255), mask))
    h, w = mask.shape
    s = min(1.0, QUALITY_SIZE / max(w, h))
    nw, nh = max(1, int(np.floor(w * s + 0.5))), max(1, int(np.floor(h * s + 0.5)))
    green = cv2.resize(g, (nw, nh), interpolation=cv2.INTER_AREA)
    m = cv2.resize(mask, (nw, nh), interpolation=cv2.INTER_AREA)
    lap = cv2.Laplacian(green, cv2.CV_32F, ksize=1)
    k = QUALITY_RIM
    core = m[k:nh - k, k:nw - k] == 255
    for dy, dx in ((0, -k), (0, k), (-k, 0), (k, 0)):
        core &= m[k + dy:nh - k + dy, k + dx:nw - k + dx] == 255
    sel = lap[k:nh - k, k:nw - k][core].astype(np.float64)
    ln = sel.size
    lap_std = float(np.sqrt(max(0.0, (sel * sel).sum() / ln - (sel.sum() / ln) ** 2))) if ln > 1 else 0.0
    gmean = float(green[k:nh - k, k:nw - k][core].sum()) / ln if ln > 1 else 0.0
    return {
        'retinaFraction': n / frame_area,
        'maskSolidity': solidity,
        'mean': mean,
        'darkFraction': dark / n,
        'saturatedFraction': sat / n,
        'laplacianStd': lap_std,
        'sharpness': lap_std / max(1.0, gmean) if ln > 1 else 0.0,
    }


def clahe_lab(rgb, clip=2.0, grid=8):
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=clip, tileGridSize=(grid, grid)).apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)


def green_emphasis(rgb):
    """(R + 8G + B) / 10 rounded half up, i.e. 0.1R + 0.8G + 0.1B in exact integer arithmetic."""
    c = rgb.astype(np.int32)
    g = ((c[:, :, 0] + 8 * c[:, :, 1] + c[:, :, 2] + 5) // 10).astype(np.uint8)
    return np.dstack([g, g, g])


def ben_graham(rgb, radius):
    blur = cv2.GaussianBlur(rgb, (0, 0), radius / 30.0)
    return cv2.addWeighted(rgb, 4, blur, -4, 128)


def resize_square(img, size, interpolation=cv2.INTER_AREA):
    h, w = img.shape[:2]
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    out = cv2.resize(img, (nw, nh), interpolation=interpolation)
    top, left = (size - nh) // 2, (size - nw) // 2
    out = cv2.copyMakeBorder(out, top, size - nh - top, left, size - nw - left, cv2.BORDER_CONSTANT, value=0)
    return out


def preprocess(rgb, size=448, mask=True, crop=True, clahe=True, green=True, ben=False, clip=2.0, grid=8, quality=None):
    """The model input of the study's steps; with a dict `quality`, the quality report of the
    cropped photograph (before CLAHE, as ours) is stored in it."""
    img = rgb.copy()
    h, w = img.shape[:2]
    m = np.full((h, w), 255, np.uint8)
    radius = max(w, h) / 2.0
    solidity = 1.0
    if mask:
        steps = {}
        m, (cx, cy, r) = retina_mask(img, steps)
        radius = CIRCLE_SHRINK * r
        solidity = steps['solidity']
        img = apply_mask(img, m)
    if crop:
        img, m, _, _ = crop_square(img, m)
    report = quality_score(img, m, h * w, solidity)
    if quality is not None:
        quality.update(report or {})
    if clahe:
        img = apply_mask(clahe_lab(img, clip, grid), m)
    if green:
        img = apply_mask(green_emphasis(img), m)
    if ben:
        img = apply_mask(ben_graham(img, radius), m)
    return resize_square(img, size)


def jpeg_size(path):
    """(width, height) from a JPEG's SOF marker, reading only the header (as sharp's metadata does)."""
    with open(path, 'rb') as f:
        data = f.read(1 << 16)
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        seglen = int.from_bytes(data[i + 2:i + 4], 'big')
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return int.from_bytes(data[i + 7:i + 9], 'big'), int.from_bytes(data[i + 5:i + 7], 'big')
        i += 2 + seglen
    return None


def reduce_factor(path, size):
    """Largest JPEG DCT scale 1/f (f in 1, 2, 4, 8) that keeps the shorter side >= size
    (the same rule as src/preprocess/decode.ts)."""
    dims = jpeg_size(path) if path.lower().endswith(('.jpg', '.jpeg')) else None
    if not dims:
        return 1
    short = min(dims)
    f = 1
    for cand in (2, 4, 8):
        if -(-short // cand) >= size:
            f = cand
    return f


# sharp's PNG settings in src/core encodePng: zlib level 6 (cv2's default would be level 1).
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 6]
READ_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def main(argv):
    size, reduce_mode, out_dir, paths = 448, 'auto', None, []
    it = iter(argv)
    for a in it:
        if a == '--size':
            size = int(next(it))
        elif a == '--reduce':
            reduce_mode = next(it)
        elif a == '--out':
            out_dir = next(it)
        else:
            paths.append(a)
    t0 = time.perf_counter()
    c0 = time.process_time()
    factors = []
    for p in paths:
        f = 1 if reduce_mode == 'off' else reduce_factor(p, size) if reduce_mode == 'auto' else int(reduce_mode)
        factors.append(f)
        # The decode of src/preprocess/decode.ts: DCT-domain shrink at f/2, then a Lanczos 2x
        # reduce to ceil(w/f) x ceil(h/f) (sharp keeps the last factor 2 for its resampler).
        bgr = cv2.imread(p, READ_FLAGS[max(1, f // 2)])
        if f > 1:
            w, h = jpeg_size(p)
            bgr = cv2.resize(bgr, (-(-w // f), -(-h // f)), interpolation=cv2.INTER_LANCZOS4)
        out = preprocess(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size)
        assert out.shape == (size, size, 3)
        if out_dir is not None:
            name = os.path.splitext(os.path.basename(p))[0] + '.png'
            if not cv2.imwrite(os.path.join(out_dir, name), cv2.cvtColor(out, cv2.COLOR_RGB2BGR), PNG_PARAMS):
                raise OSError(f'cannot write {name}')
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print(json.dumps({'images': len(paths), 'seconds': dt, 'cpu_seconds': cpu, 'reduce': sorted(set(factors)), 'cv2': cv2.__version__, 'threads': cv2.getNumThreads()}))


if __name__ == '__main__':
    main(sys.argv[1:])
