// Public surface of src/demo: the embedded end-to-end demo behind `npm start`.
export { runDemo, type DemoOptions, type DemoResult } from './demo.ts';
