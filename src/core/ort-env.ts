/**
 * Runs before ONNX Runtime is first used in a process (core/index.ts imports it, and every
 * module that creates a session imports core):
 * the native library's telemetry, on by default, records model hashes, producer names, node paths
 * and the OS in ~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db and leaves a
 * mat-debug-<pid>.log in the temp folder. ORT_DISABLE_TELEMETRY (read by the runtime when it
 * creates its environment, at the first session, not at import) turns both off, in the CLI, the
 * worker threads and the child processes alike (they inherit the variable).
 */
process.env.ORT_DISABLE_TELEMETRY = '1';
export {};
