/**
 * The OpenAPI 3.1 description of the API (GET /openapi.json). Response bodies come from the zod
 * schemas in schemas.ts (JSON Schema 2020-12, which OpenAPI 3.1 uses), so this document and the
 * server's responses share one definition.
 */
import { z } from 'zod';
import { DISCLAIMER } from '../core/index.ts';
import { ErrorResponse, ExplainResponse, HealthResponse, ModelResponse, ModelsResponse, ScreenResponse } from './schemas.ts';
import type { ServeLimits } from './limits.ts';

const schema = (s: z.ZodType): Record<string, unknown> => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

const json = (ref: string, description: string) => ({ description, content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } } });

export function openApiDocument(limits: ServeLimits): Record<string, unknown> {
  const imageBody = {
    required: true,
    description: `One fundus photograph (PNG, JPEG, TIFF or WebP; the type is read from the bytes) as the raw body with any Content-Type, or as the single file of a multipart/form-data request. At most ${limits.maxBodyBytes} bytes and ${limits.maxPixels} pixels.`,
    content: {
      'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
      'image/*': { schema: { type: 'string', format: 'binary' } },
      'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } }, required: ['file'] } },
    },
  };
  const errors = {
    '400': json('Error', 'Empty, corrupt or truncated image, or a multipart request without a file.'),
    '413': json('Error', 'Upload over the byte limit, or image over the pixel limit.'),
    '415': json('Error', 'Not an image, or an image kind the model cannot use (16-bit, greyscale, transparent).'),
    '503': {
      ...json('Error', 'The screening queue is full (back-pressure); retry after the Retry-After seconds.'),
      headers: { 'Retry-After': { schema: { type: 'integer' } } },
    },
    '504': json('Error', `Screening did not finish within ${limits.requestTimeoutMs} ms.`),
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'dr-xai screening API',
      version: '1',
      description: `Referable diabetic retinopathy screening with Grad-CAM++ explanations. ${DISCLAIMER}`,
    },
    paths: {
      '/v1/screen': {
        post: {
          summary: 'Probability of referable DR, the decision at the stored operating point, and the quality gate',
          description: 'Ungradable photographs come back with gradable=false, the reasons, and referable=null (never a confident negative).',
          requestBody: imageBody,
          responses: { '200': json('ScreenResponse', 'Screening result.'), ...errors },
        },
      },
      '/v1/explain': {
        post: {
          summary: 'The screening result plus the preprocessed image and the heat map as PNG data URLs',
          parameters: [{ name: 'steps', in: 'query', required: false, schema: { type: 'string', enum: ['0', '1'] }, description: '1: add the intermediate preprocessing images' }],
          requestBody: imageBody,
          responses: { '200': json('ExplainResponse', 'Screening result with explanation.'), ...errors },
        },
      },
      '/v1/model': { get: { summary: 'The loaded model: sidecar facts, operating point, limits', responses: { '200': json('ModelResponse', 'Model description.') } } },
      '/v1/model/onnx': {
        get: {
          summary: 'The ONNX file itself, for in-browser inference (the page runs it with onnxruntime-web)',
          responses: { '200': { description: 'ONNX model bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } },
        },
      },
      '/v1/model/explain.onnx': {
        get: {
          summary: "The explanation graph (model + backward pass to the explain layer), for the page's in-browser heat map",
          responses: { '200': { description: 'ONNX model bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } }, '404': json('Error', 'The model names no layer to explain.') },
        },
      },
      '/v1/models': { get: { summary: "The served model and the repository's packaged models (browser mode can run any of them)", responses: { '200': json('ModelsResponse', 'Models.') } } },
      '/v1/models/{id}/onnx': {
        get: {
          summary: 'The ONNX file of a listed model',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': { description: 'ONNX model bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } }, '404': json('Error', 'No such model.') },
        },
      },
      '/v1/models/{id}/explain.onnx': {
        get: {
          summary: 'The explanation graph of a listed model',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': { description: 'ONNX model bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } }, '404': json('Error', 'No such model, or no layer to explain.') },
        },
      },
      '/healthz': { get: { summary: 'Liveness and queue state', responses: { '200': json('HealthResponse', 'Healthy.') } } },
      '/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1 document', content: { 'application/json': {} } } } } },
    },
    components: {
      schemas: {
        ScreenResponse: schema(ScreenResponse),
        ExplainResponse: schema(ExplainResponse),
        ModelResponse: schema(ModelResponse),
        ModelsResponse: schema(ModelsResponse),
        HealthResponse: schema(HealthResponse),
        Error: schema(ErrorResponse),
      },
    },
  };
}
