import type { Letter, QARecord } from '../data/record.js'
import { Rng } from '../util/rng.js'

const COLORS = ['red', 'green', 'blue', 'gold'] as const
const ANIMALS = ['fox', 'frog', 'whale', 'lion'] as const
/** The rule a policy must learn: each colour names one animal. */
const RULE: Record<(typeof COLORS)[number], Letter> = { red: 'C', green: 'A', blue: 'D', gold: 'B' }
const FILLERS = ['Today', 'In the game', 'On the table', 'This time', 'Again', 'Now']

/**
 * A toy multiple-choice task with a rule a tiny model can learn: "Which animal does the blue card name?"
 * with the options always fox / frog / whale / lion; the answer depends on the colour only. Used by the
 * trainer's tests and examples (the clinical testbed is `medrl synth`).
 */
export function colorRuleTask(size: number, seed: number): QARecord[] {
  const rng = new Rng(seed)
  return Array.from({ length: size }, (_, i) => {
    const color = COLORS[rng.int(COLORS.length)]!
    const filler = FILLERS[rng.int(FILLERS.length)]!
    return {
      id: `color-rule-${i}`,
      source: 'color-rule',
      split: 'train',
      question: `${filler}, which animal does the ${color} card name?`,
      options: { A: ANIMALS[0], B: ANIMALS[1], C: ANIMALS[2], D: ANIMALS[3] },
      answer: RULE[color],
      meta: { color },
    }
  })
}
