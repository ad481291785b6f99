// Public surface of src/serve: the screening HTTP server (API + page) as a library.
export { createServer, pageMissingMessage, DEFAULT_WEB_ROOT, LOOPBACK_HOSTS, type ServerOptions } from './server.ts';
export { DEFAULT_LIMITS, type ServeLimits } from './limits.ts';
export { openApiDocument } from './openapi.ts';
export { ScreenResponse, ExplainResponse, ModelResponse, ModelsResponse, HealthResponse, ErrorResponse } from './schemas.ts';
