/**
 * The HTTP API's response shapes, written once as zod schemas: the OpenAPI document
 * (openapi.ts) is generated from them with z.toJSONSchema, and the tests parse real responses
 * with them, so the description cannot drift from what the server sends.
 */
import { z } from 'zod';

export const OperatingPointOut = z
  .object({
    threshold: z.number(),
    targetSpecificity: z.number(),
    mode: z.string(),
    chosenOn: z.string(),
    protocol: z.string().optional(),
    sensitivity: z.number().optional(),
    specificity: z.number().optional(),
    /** On the predictions the threshold was chosen on: images of each true grade and how many it referred. */
    referralByGrade: z.array(z.object({ grade: z.number().int(), n: z.number().int(), referred: z.number().int() })).optional(),
  })
  .nullable();

export const ModelSummary = z.object({
  name: z.string(),
  version: z.string(),
  task: z.string(),
  inputSize: z.number().int(),
  operatingPoint: OperatingPointOut,
});

export const QualityOut = z.object({
  retinaFound: z.boolean(),
  retinaFraction: z.number(),
  exposure: z.object({ mean: z.number(), darkFraction: z.number(), saturatedFraction: z.number() }),
  blur: z.object({ laplacianStd: z.number(), sharpness: z.number() }),
  gradable: z.boolean(),
  reasons: z.array(z.string()),
});

export const Timings = z.object({
  queueMs: z.number(),
  decodeMs: z.number(),
  preprocessMs: z.number(),
  inferMs: z.number(),
  explainMs: z.number().optional(),
  totalMs: z.number(),
});

/** PNG images as data URLs (`data:image/png;base64,...`). */
const PngDataUrl = z.string().regex(/^data:image\/png;base64,/);

export const ScreenResponse = z.object({
  requestId: z.string(),
  /** Probability of referable DR; null when no retina was found (nothing to score). */
  probability: z.number().min(0).max(1).nullable(),
  /** Decision at the stored operating point; null when ungradable or when the model has none. */
  referable: z.boolean().nullable(),
  threshold: z.number().nullable(),
  gradable: z.boolean(),
  reasons: z.array(z.string()),
  quality: QualityOut.nullable(),
  /** P(grade = 0..4) of a 5-grade model (its referable probability is P(grade >= 2)); null for a binary model or without retina. */
  gradeProbabilities: z.array(z.number()).length(5).nullable(),
  /** The grade a 5-grade model predicts: the expected grade over gradeProbabilities, rounded (the rule `dr-xai evaluate` scores); null for a binary model or when ungradable. */
  predictedGrade: z.number().int().min(0).max(4).nullable(),
  image: z.object({ format: z.string(), width: z.number().int(), height: z.number().int() }),
  model: ModelSummary,
  timings: Timings,
  disclaimer: z.string(),
});

export const ExplainResponse = ScreenResponse.extend({
  /** The network's input (preprocessed retina, input.size square). Null when ungradable without retina. */
  preprocessed: PngDataUrl.nullable(),
  heatmap: z
    .object({
      method: z.string(),
      /** Heat map blended over the preprocessed image. */
      overlay: PngDataUrl,
      /** The map alone, JET-coloured, transparent outside the retina (RGBA), for overlays at any opacity. */
      heat: PngDataUrl,
      /** The raw map in [0,1] as an 8-bit greyscale PNG (0 = 0, 255 = 1), input.size square. */
      map: PngDataUrl,
    })
    .nullable(),
  /** Intermediate preprocessing images, present with ?steps=1. */
  steps: z
    .object({
      original: PngDataUrl,
      mask: PngDataUrl,
      cropped: PngDataUrl,
      clahe: PngDataUrl.optional(),
      green: PngDataUrl.optional(),
    })
    .nullable(),
});

export const ErrorResponse = z.object({
  statusCode: z.number().int(),
  error: z.string(),
  message: z.string(),
  requestId: z.string().optional(),
});

export const HealthResponse = z.object({
  status: z.literal('ok'),
  model: z.string(),
  queue: z.object({ running: z.number().int(), waiting: z.number().int(), capacity: z.number().int(), workers: z.number().int() }),
  uptimeS: z.number(),
});

export const ModelResponse = ModelSummary.extend({
  numClasses: z.number().int(),
  input: z.object({ size: z.number().int(), mean: z.array(z.number()), std: z.array(z.number()) }),
  preprocess: z.record(z.string(), z.unknown()),
  /** Flipped views averaged with each image (the sidecar's test-time augmentation). */
  tta: z.array(z.enum(['hflip', 'vflip', 'hvflip'])),
  /** Where the page fetches the .onnx for in-browser inference. */
  onnxUrl: z.string(),
  explainMethod: z.string().nullable(),
  /**
   * The in-browser heat map: the explanation graph (the model plus the backward pass from its
   * logits to the explain layer, standard ONNX; inputs the image and the seed dS/dlogits, outputs
   * the logits, the layer and its gradient); the page computes the CAM with the server's code
   * (src/explain/cam-map.ts). Null when the package names no layer, or for Score-CAM.
   */
  explain: z
    .object({
      method: z.enum(['gradcam++', 'gradcam', 'scorecam']),
      layer: z.string(),
      graphUrl: z.string(),
    })
    .nullable(),
  limits: z.object({ maxBodyBytes: z.number().int(), maxPixels: z.number().int(), requestTimeoutMs: z.number().int() }),
  disclaimer: z.string(),
});

export const ModelsResponse = z.object({
  /** The id of the model the API screens with (its entry in `models`). */
  served: z.string(),
  /** The served model and the packaged models of the repository (`dr-xai models`), for the page's browser mode. */
  models: z.array(ModelResponse.extend({ id: z.string(), default: z.boolean() })),
});

export type ScreenResponseT = z.infer<typeof ScreenResponse>;
export type ModelsResponseT = z.infer<typeof ModelsResponse>;
export type ExplainResponseT = z.infer<typeof ExplainResponse>;
export type ModelResponseT = z.infer<typeof ModelResponse>;
