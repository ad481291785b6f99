import type { Command } from 'commander';
import { DISCLAIMER, DrXaiError } from '../../core/index.ts';
import { loadModel, defaultModelPath, MODELS_DIR } from '../../models/index.ts';
import { createServer, DEFAULT_LIMITS, LOOPBACK_HOSTS, pageMissingMessage } from '../../serve/index.ts';
import { numberOption } from '../options.ts';

interface ServeCliOptions {
  model?: string;
  port: string;
  host: string;
  corsOrigin?: string[];
  maxBodyMb: string;
  maxMegapixels: string;
  timeoutMs: string;
  workers?: string;
  queue?: string;
  allowHost?: string[];
  maxConnections: string;
  log: string;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('screening web page and HTTP API (POST /v1/screen, /v1/explain; GET /openapi.json)')
    .option('--model <model.onnx>', 'model package (.onnx with its .json sidecar); default: the referable default of `dr-xai models`')
    .option('--port <n>', 'TCP port (0: any free port)', '8080')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--cors-origin <origin...>', 'allow the API to be called from these origins (CORS is closed by default)')
    .option('--max-body-mb <n>', 'largest upload in MB', String(DEFAULT_LIMITS.maxBodyBytes / 1024 / 1024))
    .option('--max-megapixels <n>', 'largest image in megapixels', String(DEFAULT_LIMITS.maxPixels / 1e6))
    .option('--timeout-ms <n>', 'per-request limit (queue wait + screening)', String(DEFAULT_LIMITS.requestTimeoutMs))
    .option('--workers <n>', 'screenings at once (default: CPU cores)')
    .option('--queue <n>', 'screenings allowed to wait before 503 (default: 4 per worker)')
    .option('--allow-host <name...>', 'also answer for these host names (default: loopback only; needed with --host 0.0.0.0)')
    .option('--max-connections <n>', 'open connections at once', String(DEFAULT_LIMITS.maxConnections))
    .option('--log <level>', 'log level: info, warn, error or silent', 'info')
    .action(async (opts: ServeCliOptions) => {
      opts.model ??= await defaultModelPath('referable');
      const port = numberOption(opts.port, '--port', { integer: true, min: 0, max: 65535 });
      if (!['info', 'warn', 'error', 'silent'].includes(opts.log)) throw new DrXaiError(`--log must be info, warn, error or silent, got '${opts.log}'`);
      const queue = opts.queue === undefined ? undefined : numberOption(opts.queue, '--queue', { integer: true, min: 0 });
      const model = await loadModel(opts.model);
      const app = await createServer({
        model,
        // The page's browser mode may run any packaged model; the API screens with --model.
        catalog: MODELS_DIR,
        // Loopback, the address listened on when it is a specific one, and the names given.
        allowedHosts: [...LOOPBACK_HOSTS, ...(['0.0.0.0', '::'].includes(opts.host) ? [] : [opts.host]), ...(opts.allowHost ?? [])],
        corsOrigin: opts.corsOrigin,
        logLevel: opts.log === 'silent' ? false : (opts.log as 'info' | 'warn' | 'error'),
        limits: {
          maxBodyBytes: Math.round(numberOption(opts.maxBodyMb, '--max-body-mb', { min: 0.001 }) * 1024 * 1024),
          maxPixels: Math.round(numberOption(opts.maxMegapixels, '--max-megapixels', { min: 0.001 }) * 1e6),
          requestTimeoutMs: numberOption(opts.timeoutMs, '--timeout-ms', { integer: true, min: 1 }),
          workers: opts.workers === undefined ? undefined : numberOption(opts.workers, '--workers', { integer: true, min: 1 }),
          maxQueue: queue,
          maxConnections: numberOption(opts.maxConnections, '--max-connections', { integer: true, min: 1 }),
        },
      });
      const missing = pageMissingMessage(app);
      if (missing) process.stderr.write(`dr-xai serve: warning: ${missing}\n`);
      let address: string;
      try {
        address = await app.listen({ port, host: opts.host });
      } catch (e) {
        await app.close();
        throw new DrXaiError(`cannot listen on ${opts.host}:${port} (${(e as Error).message})`);
      }
      process.stdout.write(`dr-xai serve: ${model.displayName} at ${address}/ (API: ${address}/openapi.json)\n${DISCLAIMER}\n`);
      const stop = (): void => {
        void app.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
