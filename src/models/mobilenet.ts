/**
 * MobileNetV2 forward graph (Sandler et al., "MobileNetV2: Inverted Residuals and Linear
 * Bottlenecks", CVPR 2018, Table 2), width 1.0, in torchvision's parameter naming
 * (torchvision/models/mobilenetv2.py), so torchvision state dicts load one to one:
 *   features.0            Conv2dNormActivation 3 -> 32, stride 2 (features.0.0 conv, .1 BN, ReLU6)
 *   features.1            InvertedResidual, expand 1: conv.0 (dw conv-BN-ReLU6), conv.1 (1x1), conv.2 (BN)
 *   features.2 .. 17      InvertedResidual, expand 6: conv.0 (1x1 conv-BN-ReLU6), conv.1 (dw conv-BN-ReLU6),
 *                         conv.2 (1x1 linear projection), conv.3 (BN)
 *   features.18           Conv2dNormActivation 320 -> 1280, 1x1
 *   classifier.1          Linear 1280 -> classes (classifier.0 is Dropout 0.2)
 * Residual connections where stride is 1 and channels are unchanged; PyTorch padding (k-1)/2.
 */
import { GraphBuilder } from '../engine/index.ts';
import type { ModelGraph, BuildOptions } from './efficientnet.ts';
import { ParamFactory, paramsOf } from './layers.ts';

/** Table 2 of the paper: expansion t, output channels c, repeats n, first stride s. */
const MOBILENET_V2_SETTINGS: readonly [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** MobileNetV2 1.0 (3,504,872 parameters with a 1000-class head, as torchvision's). */
export function mobilenetV2(opts: BuildOptions): ModelGraph {
  const b = new GraphBuilder('mobilenet_v2');
  const pf = new ParamFactory(b, opts.seed ?? 0);
  const dropRate = opts.regularize ? opts.dropRate ?? 0.2 : 0;
  const input = b.input('image', 'float32', [opts.batch, 3, opts.imageSize, opts.imageSize]);
  // ReLU6 = Clip(x, 0, 6); its gradient (hardtanh_backward) passes strictly inside (0, 6).
  const relu6 = (x: string, out?: string) => b.op('Clip', [x, b.scalar(0), b.scalar(6)], {}, out);
  const convBnRelu6 = (x: string, prefix: string, out: number, k: number, stride = 1, groups = 1, act?: string) =>
    relu6(pf.bn(pf.conv(x, `${prefix}.0`, out, k, stride, groups), `${prefix}.1`), act);

  let x = convBnRelu6(input, 'features.0', 32, 3, 2);
  let index = 1;
  for (const [t, c, n, s] of MOBILENET_V2_SETTINGS) {
    for (let j = 0; j < n; j++) {
      const p = `features.${index}.conv`;
      const stride = j === 0 ? s : 1;
      const inCh = b.shape(x)[1];
      const hidden = inCh * t;
      let y = x;
      let part = 0;
      if (t !== 1) y = convBnRelu6(y, `${p}.${part++}`, hidden, 1);
      y = convBnRelu6(y, `${p}.${part++}`, hidden, 3, stride, hidden);
      y = pf.conv(y, `${p}.${part++}`, c, 1);
      y = pf.bn(y, `${p}.${part++}`);
      // Each block's output is named after its torchvision module (features.<i>), so a CAM layer
      // can be given by name (dr-xai cam-score --layer features.13).
      x = b.op(stride === 1 && inCh === c ? 'Add' : 'Identity', stride === 1 && inCh === c ? [y, x] : [y], {}, `features.${index}`);
      index++;
    }
  }
  const features = convBnRelu6(x, `features.${index}`, 1280, 1, 1, 1, 'features');
  const logits = pf.poolAndClassify(features, 'classifier.1', opts.numClasses, dropRate);
  return { graph: b.graph, builder: b, input, logits, features, params: paramsOf(b.graph) };
}
