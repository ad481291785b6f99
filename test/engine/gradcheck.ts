// Finite-difference gradient checks: analytic gradients from our training graph (run by ORT)
// against central differences of the forward computed in float64 (by ORT where the op has a
// double kernel, else by a float64 JavaScript reference of the forward).
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/index.ts';
import { GraphBuilder, buildTrainingGraph, createSession, runGraph, cloneGraph, prune, sizeOf } from '../../src/engine/index.ts';
import type { Graph, TypedData } from '../../src/engine/index.ts';

export type F = 'float32' | 'float64';

export function randomArray(rng: Rng, n: number, dtype: F, scale = 1): Float32Array | Float64Array {
  const a = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal(0, scale);
  return a;
}

export interface CheckCase {
  dtype: F;
  /** Builds the op under test from tensors made with `param`/`input`; returns the output. */
  build(b: GraphBuilder, param: (name: string, shape: number[], scale?: number) => string): string;
  /** Float64 forward reference for ops without double kernels: values by name -> output. */
  reference?: (values: Map<string, Float64Array>) => Float64Array;
  /** BatchNormalization mode for the analytic graph. */
  batchNorm?: 'train' | 'eval';
  seed?: number;
  /** Largest |analytic - numeric| allowed, relative to the largest |gradient|. */
  tol?: number;
}

/**
 * Builds loss = sum(R * f(params)) with a fixed random R, computes d loss / d param with the
 * autodiff, and compares every element against (L(p + h) - L(p - h)) / 2h in float64.
 */
export async function gradCheck(c: CheckCase): Promise<{ worst: number; checked: number }> {
  const rng = new Rng(c.seed ?? 1234);
  const b = new GraphBuilder('check');
  const params: string[] = [];
  const param = (name: string, shape: number[], scale = 1) => {
    params.push(name);
    return b.initializer(name, { dtype: c.dtype, shape, data: randomArray(rng, sizeOf(shape), c.dtype, scale) });
  };
  const out = c.build(b, param);
  const r = b.constant({ dtype: c.dtype, shape: b.shape(out), data: randomArray(rng, sizeOf(b.shape(out)), c.dtype) }, 'R');
  const loss = b.reduceSum(b.mul(out, r), b.shape(out).map((_, i) => i), false);
  b.output(loss);
  const forward = b.graph;

  const tg = buildTrainingGraph(forward, { loss, wrt: params, batchNorm: c.batchNorm ?? 'train' });
  const session = await createSession(tg.graph, { threads: 1 });
  const values = new Map<string, Float64Array>();
  for (const p of params) values.set(p, Float64Array.from(forward.initializers.get(p)!.data as Float64Array));
  const feedsOf = (vals: Map<string, Float64Array>) => {
    const f: Record<string, TypedData> = {};
    for (const [k, v] of vals) f[k] = c.dtype === 'float32' ? Float32Array.from(v) : v;
    return f;
  };
  const res = await runGraph(session, tg.graph, feedsOf(values));

  // Numeric side: a float64 evaluator of the loss.
  let lossAt: (vals: Map<string, Float64Array>) => Promise<number>;
  const rValues = Float64Array.from(forward.initializers.get(r)!.data as Float64Array);
  if (c.reference) {
    const ref = c.reference;
    lossAt = async (vals) => {
      const y = ref(vals);
      assert.equal(y.length, rValues.length, 'reference output size');
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * rValues[i];
      return s;
    };
  } else {
    assert.equal(c.dtype, 'float64', 'ORT finite differences need float64');
    const fg: Graph = cloneGraph(forward);
    for (const p of params) {
      const t = fg.initializers.get(p)!;
      fg.initializers.delete(p);
      fg.inputs.push({ name: p, dtype: t.dtype, shape: [...t.shape] });
    }
    // Eval-mode BN is what the forward graph holds; for a train-mode check the forward must use
    // batch statistics too, so evaluate the training graph's loss output instead.
    const evalGraph = c.batchNorm === 'eval' || !forward.nodes.some((n) => n.op === 'BatchNormalization') ? fg : lossOnly(tg.graph, loss);
    prune(evalGraph);
    const fs = await createSession(evalGraph, { threads: 1 });
    lossAt = async (vals) => {
      const o = await runGraph(fs, evalGraph, feedsOf(vals), [loss]);
      return Number((o[loss].data as Float64Array)[0]);
    };
  }

  let worst = 0;
  let checked = 0;
  for (const p of params) {
    const analytic = res[tg.gradients.get(p)!].data as Float32Array | Float64Array;
    const v = values.get(p)!;
    assert.equal(analytic.length, v.length, `gradient size of ${p}`);
    let maxGrad = 1e-12;
    const numeric = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const h = 1e-5 * Math.max(1, Math.abs(v[i]));
      const orig = v[i];
      v[i] = orig + h;
      const lp = await lossAt(values);
      v[i] = orig - h;
      const lm = await lossAt(values);
      v[i] = orig;
      numeric[i] = (lp - lm) / (2 * h);
      maxGrad = Math.max(maxGrad, Math.abs(numeric[i]));
    }
    for (let i = 0; i < v.length; i++) {
      const err = Math.abs(analytic[i] - numeric[i]) / maxGrad;
      worst = Math.max(worst, err);
      checked++;
      assert.ok(err <= (c.tol ?? (c.dtype === 'float64' ? 1e-6 : 1e-4)), `${p}[${i}]: analytic ${analytic[i]} vs numeric ${numeric[i]} (rel ${err.toExponential(2)})`);
    }
  }
  return { worst, checked };
}

function lossOnly(g: Graph, loss: string): Graph {
  const c = cloneGraph(g);
  c.outputs = [loss];
  return c;
}

// ---- float64 JavaScript references for ops ORT only runs in float32 ----

/** Direct 2-D convolution, ONNX Conv semantics (NCHW, OIHW, groups, pads [t,l,b,r]). */
export function conv2dRef(
  x: Float64Array, xs: number[], w: Float64Array, ws: number[], bias: Float64Array | undefined,
  o: { strides: number[]; pads: number[]; dilations: number[]; group: number },
): { y: Float64Array; shape: number[] } {
  const [n, c, h, wd] = xs;
  const [oc, cg, kh, kw] = ws;
  const [sh, sw] = o.strides;
  const [pt, pl, pb, pr] = o.pads;
  const [dh, dw] = o.dilations;
  const ho = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const wo = Math.floor((wd + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  const og = oc / o.group;
  const y = new Float64Array(n * oc * ho * wo);
  for (let b = 0; b < n; b++)
    for (let oo = 0; oo < oc; oo++) {
      const g = Math.floor(oo / og);
      for (let i = 0; i < ho; i++)
        for (let j = 0; j < wo; j++) {
          let s = bias ? bias[oo] : 0;
          for (let ci = 0; ci < cg; ci++)
            for (let a = 0; a < kh; a++)
              for (let e = 0; e < kw; e++) {
                const yy = i * sh - pt + a * dh;
                const xx = j * sw - pl + e * dw;
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                s += x[((b * c + g * cg + ci) * h + yy) * wd + xx] * w[((oo * cg + ci) * kh + a) * kw + e];
              }
          y[((b * oc + oo) * ho + i) * wo + j] = s;
        }
    }
  void c;
  return { y, shape: [n, oc, ho, wo] };
}
