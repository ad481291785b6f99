/** The server's limits on uploads, time and connections, and their defaults. */
export interface ServeLimits {
  /** Largest request body (raw or the one multipart file), bytes. */
  maxBodyBytes: number;
  /** Largest image, width x height, checked from the header before decoding. */
  maxPixels: number;
  /** Per-request time limit for queue wait plus screening, ms. */
  requestTimeoutMs: number;
  /** Screenings at once (default: cores). */
  workers?: number;
  /** Screenings allowed to wait (default: 4 per worker). */
  maxQueue?: number;
  /** Open connections at once; more are refused by the socket layer (default 512). */
  maxConnections: number;
  /** A connection that sends nothing for this long is closed (idle keep-alive, stalled uploads), ms. */
  idleTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<ServeLimits> = Object.freeze({
  maxBodyBytes: 20 * 1024 * 1024,
  maxPixels: 50_000_000,
  requestTimeoutMs: 30_000,
  maxConnections: 512,
  idleTimeoutMs: 10_000,
});
