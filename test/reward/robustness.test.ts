import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { QARecord } from '../../src/data/record.js'
import { extractAnswer } from '../../src/reward/extract.js'
import { checkR1Format } from '../../src/reward/format.js'
import { getReward } from '../../src/reward/rewards.js'
import { classifyStage } from '../../src/reward/stages.js'
import { Rng } from '../../src/util/rng.js'

const rec: QARecord = { id: 'q', source: 't', split: 'test', question: 'Q', options: { A: 'alpha', B: 'beta (b)', C: 'gamma', D: 'the answer is' }, answer: 'B', meta: {} }
const PIECES = ['<think>', '</think>', '<answer>', '</answer>', '<answer', 'answer is ', 'Answer: ', '\\boxed{', '{', '}', '(B)', 'B', 'a', 'not ', ' or ', ', ', '\n', '  ', '**', '\\text{', '?', '.', 'é', '\u0000', '\ud800', 'beta', 'gamma']

function fuzz(rng: Rng, n: number): string {
  let s = ''
  while (s.length < n) s += PIECES[rng.int(PIECES.length)]
  return s
}

function everything(text: string): void {
  for (const format of ['r1', 'boxed', 'letter'] as const) {
    for (const mode of ['strict', 'lenient'] as const) {
      const e = extractAnswer(text, rec, { format, mode })
      assert.ok(e.letter === null || e.letter in rec.options)
    }
    for (const name of ['binary', 'format_correct']) {
      const r = getReward(name)(text, rec, { format })
      assert.ok(Number.isFinite(r.reward))
    }
  }
  checkR1Format(text)
  classifyStage(text, rec)
}

describe('extraction, format checks, rewards and stages never throw', () => {
  it('random and adversarial strings', () => {
    const rng = new Rng(11)
    for (let i = 0; i < 2000; i++) everything(fuzz(rng, rng.int(300)))
    for (const t of ['<think><think></think>', '<answer><answer>B</answer></answer>', '\\boxed{\\boxed{B}', '}}}}\\boxed{', '<ANSWER>b</ANSWER>', '<think>\n</think>\n<answer>\n(B)\n</answer>', '\\boxed{}']) everything(t)
    assert.equal(extractAnswer('<answer><answer>B</answer></answer>', rec).letter, 'B')
    assert.equal(extractAnswer('<ANSWER>b</ANSWER>', rec).letter, 'B')
  })

  it('1 MB inputs of every adversarial shape finish (linear scans, no backtracking)', () => {
    const mb = 1 << 20
    const inputs = [
      'answer is '.repeat(mb / 10),
      '<answer>'.repeat(mb / 8),
      '\\boxed{'.repeat(mb / 7),
      ' '.repeat(mb) + 'B',
      'answer' + ' '.repeat(mb) + 'is B',
      'The answer is ' + 'not '.repeat(mb / 4),
      '(B) is '.repeat(mb / 7),
      '<think>' + 'because '.repeat(mb / 8) + '</think><answer>B</answer>',
      fuzz(new Rng(5), mb),
    ]
    for (const t of inputs) everything(t)
  })
})
