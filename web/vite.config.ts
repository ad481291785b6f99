/**
 * Builds the screening page into web/dist (served by `dr-xai serve`).
 * The page runs the product's own TypeScript preprocessing (src/preprocess) and model input code
 * (src/models) in the browser; two redirections make that possible without copies:
 *  - src/core/index.ts -> web/src/core-browser.ts (the same errors and RNG, no sharp / node:fs);
 *  - onnxruntime-node -> onnxruntime-web/wasm (the same InferenceSession/Tensor API, in WASM);
 *  - sharp -> web/src/sharp-browser.ts (imported by Node-only helpers the page never calls).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const webDir = path.dirname(fileURLToPath(import.meta.url));
const coreIndex = path.resolve(webDir, '..', 'src', 'core', 'index.ts');
const coreBrowser = path.resolve(webDir, 'src', 'core-browser.ts');

function browserCore(): Plugin {
  return {
    name: 'dr-xai-browser-core',
    enforce: 'pre',
    resolveId(source, importer) {
      if (!importer || !source.endsWith('core/index.ts')) return null;
      return path.resolve(path.dirname(importer), source) === coreIndex ? coreBrowser : null;
    },
  };
}

export default defineConfig({
  root: webDir,
  base: '/',
  logLevel: 'warn',
  plugins: [browserCore()],
  resolve: {
    alias: [
      { find: /^onnxruntime-node$/, replacement: 'onnxruntime-web/wasm' },
      { find: /^sharp$/, replacement: path.resolve(webDir, 'src', 'sharp-browser.ts') },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    // ORT's WASM is served by the server from node_modules (/ort/), not copied per build.
    assetsInlineLimit: 0,
  },
});
