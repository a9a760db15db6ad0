/** Bounds of the log contract (re-exported by ./log.ts; a module of its own so the normaliser can use them). */
export const LIMITS = {
  messageChars: 32_768,
  /** `attributes` as JSON, the log's own and the extra fields kept there together. */
  attributesBytes: 16_384,
  /** Names listed in `dropped_attributes` (the last one counts the rest when there are more). */
  droppedKeys: 100,
  droppedKeyChars: 128,
} as const;
