// Public surface of src/serve: the screening HTTP server (API + page) as a library.
export { createServer, pageMissingMessage, DEFAULT_LIMITS, DEFAULT_WEB_ROOT, LOOPBACK_HOSTS, type ServerOptions, type ServeLimits } from './server.ts';
export { openApiDocument } from './openapi.ts';
export { ScreenResponse, ExplainResponse, ModelResponse, ModelsResponse, HealthResponse, ErrorResponse } from './schemas.ts';
