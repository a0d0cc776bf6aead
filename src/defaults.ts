/**
 * Defaults shared by several commands, each with its reason, in one place.
 */

/**
 * New tokens an answer may take in evaluation and difficulty passes: room for a step-by-step answer to a long
 * vignette (reasoning models write a few hundred tokens), without letting a rambling one run on.
 */
export const DEFAULT_MAX_NEW_TOKENS = 512

/** A default prompt template for one purpose, and why that one. */
export interface TemplateDefault {
  name: string
  why: string
}

/**
 * The prompt template each kind of command uses when none is given. They differ on purpose: evaluation
 * reads answers as the papers' evaluation prompts ask for them; training, difficulty passes, sampling and
 * scoring use the R1 format the format reward checks; the testbed's base is pretrained to answer with
 * option text inside the R1 tags.
 */
export const DEFAULT_TEMPLATE = {
  eval: { name: 'boxed', why: 'instruct checkpoints are evaluated with a boxed answer, as in the papers’ evaluation prompts' },
  rl: { name: 'r1', why: 'the <think>…</think><answer>…</answer> format that format_correct checks (Med-RLVR, DeepSeek-R1)' },
  pretrain: { name: 'r1-text', why: 'the testbed base learns to answer with the option text inside the R1 tags' },
} as const satisfies Record<string, TemplateDefault>

/** Help text of a --template option: the choices' purpose and the default's reason. */
export function templateHelp(d: TemplateDefault, what = 'prompt template'): string {
  return `${what}; the default is ${d.why}`
}
