/**
 * Defaults shared by several commands, each with its reason, in one place.
 */

/**
 * New tokens an answer may take in evaluation and difficulty passes: room for a step-by-step answer to a long
 * vignette (reasoning models write a few hundred tokens), without letting a rambling one run on.
 */
export const DEFAULT_MAX_NEW_TOKENS = 512
