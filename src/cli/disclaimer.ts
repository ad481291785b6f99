/** Shown wherever a result is shown: dr-xai is research decision support, never a diagnosis. */
export const DISCLAIMER =
  'Research decision support only: not a medical device and not a diagnosis. A qualified clinician must review every result.';
