/** Bounds of the log contract (re-exported by ./log.ts; a module of its own so the normaliser can use them). */
export const LIMITS = {
  messageChars: 32_768,
  /** `attributes` as JSON, the log's own and the extra fields kept there together. */
  attributesBytes: 16_384,
  /** Names listed in `dropped_attributes` (the last one counts the rest when there are more). */
  droppedKeys: 100,
  droppedKeyChars: 128,
  /**
   * Levels of objects and arrays in any field of a log and in each member of its `attributes` (`{"a":[1]}` is
   * 2). Real logs stay far below; a few thousand levels overflow JSON.stringify's stack.
   */
  nestingDepth: 32,
  hostnameChars: 253,
  traceIdChars: 128,
} as const;
