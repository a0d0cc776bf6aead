import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { extractAnswer, isCorrect, type ExtractOptions } from '../../src/reward/extract.js'
import type { QARecord } from '../../src/data/record.js'

const rec: Pick<QARecord, 'options'> = {
  options: { A: 'Renal artery stenosis', B: 'Acute interstitial nephritis', C: 'Cholesterol embolization', D: 'Eosinophilic granulomatosis with polyangiitis', E: 'Polyarteritis nodosa' },
}
const ten: Pick<QARecord, 'options'> = { options: Object.fromEntries('ABCDEFGHIJ'.split('').map((l, i) => [l, `choice number ${i}`])) }
const pubmed: Pick<QARecord, 'options'> = { options: { A: 'yes', B: 'no', C: 'maybe' } }

function ex(out: string, o: ExtractOptions = {}, r = rec) {
  return extractAnswer(out, r, o)
}

describe('answer extraction: the listed cases', () => {
  const cases: [string, string | null, ExtractOptions?][] = [
    ['<think>renal failure after cath</think><answer>B</answer>', 'B'],
    ['<think>…</think><answer> C: Cholesterol embolization </answer>', 'C'],
    ['So the result is \\boxed{B}.', 'B', { format: 'boxed' }],
    ['Final: \\boxed{\\text{(B)}}', 'B', { format: 'boxed' }],
    ['\\boxed{\\textbf{C. Cholesterol embolization}}', 'C', { format: 'boxed' }],
    ['Let us reason. The answer is (B).', 'B'],
    ['Answer: B', 'B'],
    ['Reasoning…\n\n**B.** Acute interstitial nephritis', 'B'],
    ['after all that, the correct option is b', 'B'],
    ['The answer is Cholesterol embolization.', 'C'],
    ['cholesterol embolization', 'C'],
    ['the answer is (c).', 'C'],
    ['The answer is **D**!', 'D'],
    ['**Answer:** (E)', 'E'],
    ['The answer is ***B***.', 'B'],
  ]
  for (const [out, want, o] of cases) {
    it(JSON.stringify(out), () => assert.equal(ex(out, o).letter, want))
  }
})

describe('answer extraction: policies and hard cases', () => {
  it('several different letters named as final → none, ambiguous', () => {
    for (const out of ['The answer is A or C.', '<answer>A, C</answer>', 'Answer: B and D', '\\boxed{A/B}']) {
      const e = ex(out)
      assert.equal(e.letter, null, out)
      assert.equal(e.reason, 'ambiguous', out)
      assert.equal(e.candidates?.length, 2)
    }
  })

  it('negations: "not A" is not an answer; a correction after it is', () => {
    assert.equal(ex('The answer is not A.').letter, null)
    assert.equal(ex('The answer is not A, but rather C.').letter, 'C')
    assert.equal(ex('The answer is C. The answer is not B.').letter, 'C')
    assert.equal(ex('A is incorrect. B is not correct. C is the correct answer.').letter, 'C')
  })

  it('the last final-answer statement wins over earlier mentions (or the first, on request)', () => {
    const out = 'Initially the answer is (A). Wait, reconsidering the eosinophils, the answer is (C).'
    assert.equal(ex(out).letter, 'C')
    assert.equal(ex(out, { mention: 'first' }).letter, 'A')
    assert.equal(ex('<answer>A</answer> hmm <answer>D</answer>').letter, 'D')
  })

  it('PubMedQA answers as yes/no/maybe', () => {
    assert.equal(ex('<answer>yes</answer>', {}, pubmed).letter, 'A')
    assert.equal(ex('The answer is No.', {}, pubmed).letter, 'B')
    assert.equal(ex('Answer: maybe', {}, pubmed).letter, 'C')
    assert.equal(ex('<answer>C</answer>', {}, pubmed).letter, 'C')
  })

  it('up to ten options A–J; a letter beyond the options is refused', () => {
    assert.equal(ex('The answer is (J).', {}, ten).letter, 'J')
    assert.equal(ex('<answer>H</answer>', {}, ten).letter, 'H')
    const e = ex('The answer is (F).', {}, rec)
    assert.equal(e.letter, null)
    assert.equal(e.reason, 'not_an_option')
  })

  it('an article "A" is not a letter; "(A)" and "A." are', () => {
    assert.equal(ex('The answer is a combination of both.').letter, null)
    assert.equal(ex('The answer is A patient with…').letter, null)
    assert.equal(ex('The answer is A. Renal artery stenosis').letter, 'A')
    assert.equal(ex('The answer is (A) because the bruit…').letter, 'A')
    assert.equal(ex('The answer is A Renal artery stenosis').letter, 'A')
  })

  it('a question is not an answer: "the answer is X? No, …"', () => {
    assert.equal(ex('So the answer is Cholesterol embolization? No, check again').letter, null)
  })

  it('strict mode reads only what the format asks for', () => {
    const o = { mode: 'strict', format: 'r1' } as const
    assert.equal(ex('<think>x</think><answer>B</answer>', o).letter, 'B')
    assert.equal(ex('<think>x</think> The answer is B.', o).letter, null)
    assert.equal(ex('<think>x</think><answer>B', o).reason, 'unclosed_tag')
    assert.equal(ex('<think>x</think><answer>B', { format: 'r1' }).letter, 'B', 'lenient takes an unclosed tag')
    assert.equal(ex('The answer is B.', { mode: 'strict', format: 'boxed' }).letter, null)
    assert.equal(ex('thus \\boxed{B}', { mode: 'strict', format: 'boxed' }).letter, 'B')
    assert.equal(ex('B', { mode: 'strict', format: 'letter' }).letter, 'B')
    assert.equal(ex('(B) Acute interstitial nephritis', { mode: 'strict', format: 'letter' }).letter, 'B')
    assert.equal(ex('I think it is B', { mode: 'strict', format: 'letter' }).letter, null)
    assert.equal(ex('<answer>Acute interstitial nephritis</answer>', { ...o, matchOptionText: false }).letter, null)
  })

  it('an answer tag whose text matches no option: unmatched in strict mode, other statements in lenient', () => {
    assert.equal(ex('<think>x</think><answer>kidney</answer>', { mode: 'strict' }).reason, 'unmatched_text')
    assert.equal(ex('<answer>kidney</answer> so the answer is (B)').letter, 'B')
  })

  it('empty and whitespace outputs', () => {
    assert.deepEqual(ex(''), { letter: null, method: 'none', reason: 'no_answer' })
    assert.equal(ex('   \n ').reason, 'no_answer')
    assert.equal(ex('<answer></answer>', { mode: 'strict' }).reason, 'empty_answer')
  })

  it('equivalent answers (identical option texts) count as correct', () => {
    const r = { answer: 'B' as const, meta: { equivalent_answers: ['B', 'C'] } }
    assert.equal(isCorrect('C', r), true)
    assert.equal(isCorrect('A', r), false)
    assert.equal(isCorrect(null, r), false)
  })
})
