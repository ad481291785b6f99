/**
 * Shown wherever a result is shown: dr-xai is research decision support, never a diagnosis.
 * The web page imports this file directly, since core/index.ts also pulls in Node-only code.
 */
export const DISCLAIMER =
  'Research decision support only: not a medical device and not a diagnosis. A qualified clinician must review every result.';
