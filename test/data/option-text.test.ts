import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseAnswerChoices, parseOptionLines, type ScanStats } from '../../src/data/option-text.js'
import { Rng } from '../../src/util/rng.js'

describe('parseAnswerChoices', () => {
  it('splits stem and options', () => {
    const r = parseAnswerChoices('Which?\nAnswer Choices: (A) one (B) two (C) three')
    assert.deepEqual(r, { ok: true, value: { stem: 'Which?', options: ['one', 'two', 'three'] } })
  })

  it('keeps parentheses, letters and line breaks inside options', () => {
    const r = parseAnswerChoices('Q\nAnswer Choices: (A) Vitamin B(12) deficiency (B) Type (I) error\nwith more text (C) A and B (D) Both (A) & (C)')
    assert.ok(r.ok)
    assert.deepEqual(r.value.options, ['Vitamin B(12) deficiency', 'Type (I) error\nwith more text', 'A and B', 'Both (A) & (C)'])
  })

  it('ten options A–J', () => {
    const text = 'Q\nAnswer Choices: ' + 'ABCDEFGHIJ'.split('').map((l, i) => `(${l}) opt${i}`).join(' ')
    const r = parseAnswerChoices(text)
    assert.ok(r.ok)
    assert.equal(r.value.options.length, 10)
    assert.equal(r.value.options[9], 'opt9')
  })

  it('uses the last "Answer Choices:" section', () => {
    const r = parseAnswerChoices('Answer Choices: appear in the stem too?\nAnswer Choices: (A) x (B) y')
    assert.ok(r.ok)
    assert.equal(r.value.stem, 'Answer Choices: appear in the stem too?')
  })

  it('refuses, with a reason, what it cannot read for sure', () => {
    const bad: [string, RegExp][] = [
      ['no section here', /no "Answer Choices:" section/],
      ['Q\nAnswer Choices: A) x B) y', /not followed by "\(A\)"/],
      ['Q\nAnswer Choices: (A) only one', /at least 2/],
      ['Q\nAnswer Choices: (A) x (B) (C) z', /option B is empty/],
      ['Q\nAnswer Choices: (A) x (B) y (A) z (B) w', /share a letter/],
      ['\nAnswer Choices: (A) x (B) y', /before the options is empty/],
    ]
    for (const [text, reason] of bad) {
      const r = parseAnswerChoices(text)
      assert.equal(r.ok, false, text)
      if (!r.ok) assert.match(r.reason, reason)
    }
  })
})

describe('parseOptionLines', () => {
  it('reads the last run of lettered lines', () => {
    const r = parseOptionLines('Question: Is it?\n\nA. yes\nB. no\nC. maybe')
    assert.deepEqual(r, { ok: true, value: { stem: 'Question: Is it?', options: ['yes', 'no', 'maybe'] } })
  })

  it('joins continuation lines and ignores lettered lines in the stem', () => {
    const r = parseOptionLines('A. patient was seen.\nWhat now?\nA) first line\ncontinued\nB) second')
    assert.ok(r.ok)
    assert.equal(r.value.stem, 'A. patient was seen.\nWhat now?')
    assert.deepEqual(r.value.options, ['first line\ncontinued', 'second'])
  })

  it('refuses text without option lines', () => {
    assert.equal(parseOptionLines('nothing').ok, false)
    assert.equal(parseOptionLines('Q\nA. one').ok, false)
  })
})

/** Random text over an alphabet rich in the parsers' own syntax. */
function fuzzText(rng: Rng, n: number): string {
  const pieces = ['(A)', '(B)', '(C)', '(J)', '(', ')', 'Answer Choices:', '\n', ' ', 'A. ', 'B. ', 'x', 'yes', '\u00a0', '((((', 'é', '\r\n']
  let s = ''
  while (s.length < n) s += pieces[rng.int(pieces.length)]
  return s
}

describe('option-text parsers: fuzz', () => {
  it('never throw on random and adversarial text', () => {
    const rng = new Rng(7)
    for (let i = 0; i < 3000; i++) {
      const t = fuzzText(rng, rng.int(400))
      const a = parseAnswerChoices(t)
      const b = parseOptionLines(t)
      assert.equal(typeof a.ok, 'boolean')
      assert.equal(typeof b.ok, 'boolean')
      if (a.ok) assert.ok(a.value.options.length >= 2 && a.value.options.every((o) => o !== ''))
    }
  })

  it('examine a bounded multiple of the input length on long adversarial input (linear time)', () => {
    const inputs = [
      'Answer Choices: (A) ' + 'x (A) '.repeat(200_000),
      'Answer Choices: (A) ' + '(B'.repeat(300_000),
      'Answer Choices: (A) x ' + 'y(B) '.repeat(200_000) + ' (B) z',
      fuzzText(new Rng(1), 1_000_000),
    ]
    for (const t of inputs) {
      const stats: ScanStats = { scanned: 0 }
      parseAnswerChoices(t, stats)
      assert.ok(stats.scanned <= 20 * t.length, `scanned ${stats.scanned} for ${t.length} chars`)
      parseOptionLines(t) // one pass over lines; must simply finish
    }
    const lines = 'A. x\n'.repeat(200_000) + 'B. y\n'
    const r = parseOptionLines(lines)
    assert.ok(r.ok)
    assert.deepEqual(r.value.options, ['x', 'y'])
  })
})
