import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { QARecord } from '../../src/data/record.js'
import { checkR1Format } from '../../src/reward/format.js'
import { getReward, registerReward, resolveReward, rewardNames, weightedReward, judge, type RewardContext } from '../../src/reward/rewards.js'

const rec: QARecord = { id: 'q', source: 't', split: 'test', question: 'Q?', options: { A: 'alpha', B: 'beta', C: 'gamma', D: 'delta' }, answer: 'B', meta: {} }
const r1: RewardContext = { format: 'r1' }

describe('R1 format check', () => {
  const valid = ['<think>reasoning</think><answer>B</answer>', '  <think>\nx\n</think>\n<answer> B </answer>\n', '<think></think><answer>B</answer>']
  for (const v of valid) it(`valid: ${JSON.stringify(v)}`, () => assert.equal(checkR1Format(v).valid, true))
  const invalid: [string, string][] = [
    ['no tags at all, the answer is B', 'missing_think'],
    ['<think>x</think> B', 'missing_answer'],
    ['<answer>B</answer><think>x</think>', 'wrong_order'],
    ['<think>x</think><think>y</think><answer>B</answer>', 'repeated_tags'],
    ['<think>a<think>b</think>c</think><answer>B</answer>', 'repeated_tags'],
    ['<think>x</think><answer>B</answer><answer>C</answer>', 'repeated_tags'],
    ['Let me think first. <think>x</think><answer>B</answer>', 'text_before_think'],
    ['<think>x</think> so: <answer>B</answer>', 'text_between'],
    ['<think>x</think><answer>B</answer> Hope this helps', 'text_after_answer'],
    ['<think>x</think><answer>  </answer>', 'empty_answer'],
    ['<think>x</answer><answer>B</think>', 'wrong_order'],
  ]
  for (const [v, reason] of invalid) {
    it(`invalid (${reason}): ${JSON.stringify(v)}`, () => {
      const f = checkR1Format(v)
      assert.equal(f.valid, false)
      if (!f.valid) assert.equal(f.reason, reason)
    })
  }
  it('a preamble can be allowed; a pre-filled "<think>" is part of the completion', () => {
    assert.equal(checkR1Format('Let me think first. <think>x</think><answer>B</answer>', { allowPreamble: true }).valid, true)
    assert.equal(checkR1Format('x</think><answer>B</answer>', { prefix: '<think>' }).valid, true)
    assert.equal(checkR1Format('x</think><answer>B</answer>').valid, false)
  })
})

describe('rewards', () => {
  it('binary (AlphaMed): 1 right, 0 wrong or unreadable', () => {
    const b = getReward('binary')
    assert.equal(b('<think>x</think><answer>B</answer>', rec, r1).reward, 1)
    assert.equal(b('<think>x</think><answer>C</answer>', rec, r1).reward, 0)
    assert.equal(b('The answer is B', rec, r1).reward, 0, 'strict: no answer tag, no reward')
    assert.equal(b('\\boxed{B}', rec, { format: 'boxed' }).reward, 1)
  })

  it('format_correct (Med-RLVR): -1 broken format, 0 wrong, 1 right', () => {
    const f = getReward('format_correct')
    assert.equal(f('<think>x</think><answer>B</answer>', rec, r1).reward, 1)
    assert.equal(f('<think>x</think><answer>A</answer>', rec, r1).reward, 0)
    assert.equal(f('<think>x</think><answer>B</answer> extra', rec, r1).reward, -1)
    assert.equal(f('B', rec, r1).reward, -1)
    const r = f('<think>x</think><answer>beta</answer>', rec, r1)
    assert.deepEqual([r.reward, r.extracted, r.correct, r.formatValid], [1, 'B', true, true])
  })

  it('users register their own reward in TypeScript and combine rewards with weights', () => {
    const name = `length_penalty_${process.pid}`
    registerReward({ name, description: 'minus one per 1000 characters', fn: (c, r, ctx) => ({ ...judge(c, r, ctx), reward: -c.length / 1000 }) })
    assert.ok(rewardNames().includes(name))
    assert.throws(() => registerReward({ name, description: 'dup', fn: getReward('binary') }), /already registered/)
    const w = weightedReward([
      { name: 'binary', weight: 1 },
      { name, weight: 0.5 },
    ])
    const out = '<think>' + 'x'.repeat(971) + '</think><answer>B</answer>'
    const r = w(out, rec, r1)
    assert.equal(out.length, 1004)
    assert.ok(Math.abs(r.reward - (1 - 0.5 * 1.004)) < 1e-12)
    assert.deepEqual(r.details.terms, { binary: 1, [name]: -1.004 })
    assert.equal(resolveReward('binary:2,format:0.5')('<think>x</think><answer>B</answer>', rec, r1).reward, 2.5)
    assert.throws(() => resolveReward('binary:abc'), /bad reward term/)
    assert.throws(() => getReward('nope'), /unknown reward "nope"; known: binary, format_correct/)
  })
})
