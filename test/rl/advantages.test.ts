import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { gae, getAdvantage, grpo, rloo, std } from '../../src/rl/advantages.js'

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`)

describe('advantage estimators, against hand-computed values', () => {
  it('GRPO: (r − group mean) / (group std + eps), on every response token', () => {
    // group 0: rewards 1, 0, 0, 1 → mean 0.5, sample std √(1/3); group 1: 1, 0 → mean 0.5, std √0.5.
    const out = grpo({ scores: [1, 0, 0, 1, 1, 0], groups: [0, 0, 0, 0, 1, 1], responseMask: [[1, 1], [1, 0], [1, 1], [0, 1], [1], [1]], eps: 0 })
    const s0 = Math.sqrt(1 / 3)
    close(out.advantages[0]![0]!, 0.5 / s0)
    close(out.advantages[0]![1]!, 0.5 / s0)
    close(out.advantages[1]![0]!, -0.5 / s0)
    assert.equal(out.advantages[1]![1], 0, 'masked tokens get 0')
    close(out.advantages[4]![0]!, 0.5 / Math.sqrt(0.5))
    close(std([1, 0, 0, 1]), s0)
  })

  it('GRPO: a group with identical rewards gets 0; a group of one gets its score; Dr. GRPO and batch scaling', () => {
    const same = grpo({ scores: [1, 1, 1], groups: [0, 0, 0], responseMask: [[1], [1], [1]] })
    assert.deepEqual(same.advantages, [[0], [0], [0]])
    const one = grpo({ scores: [0.7], groups: [3], responseMask: [[1, 1]] })
    close(one.advantages[0]![0]!, 0.7 / (1 + 1e-6))
    const none = grpo({ scores: [1, 0, 0, 0], groups: [0, 0, 0, 0], responseMask: [[1], [1], [1], [1]], scaleRewards: 'none' })
    assert.deepEqual(none.advantages.map((r) => r[0]), [0.75, -0.25, -0.25, -0.25])
    const batch = grpo({ scores: [1, 0, 2, 2], groups: [0, 0, 1, 1], responseMask: [[1], [1], [1], [1]], scaleRewards: 'batch', eps: 0 })
    const sb = std([1, 0, 2, 2])
    close(batch.advantages[0]![0]!, 0.5 / sb)
    assert.equal(batch.advantages[2]![0], 0)
  })

  it('all-masked rows and one-token responses', () => {
    const out = grpo({ scores: [1, 0], groups: [0, 0], responseMask: [[0, 0, 0], [0, 1, 0]], eps: 0 })
    assert.deepEqual(out.advantages[0], [0, 0, 0])
    close(out.advantages[1]![1]!, -0.5 / Math.sqrt(0.5))
    const g = gae({ scores: [2], groups: [0], responseMask: [[0, 0]], values: [[0, 0]], whiten: false })
    assert.deepEqual(g.advantages, [[0, 0]])
    const one = gae({ scores: [2], groups: [0], responseMask: [[0, 1]], values: [[0, 0.5]], whiten: false })
    assert.deepEqual(one.advantages, [[0, 1.5]])
    assert.deepEqual(one.returns, [[0, 2]])
  })

  it('RLOO: score minus the mean of the others in its group', () => {
    const out = rloo({ scores: [1, 0, 0, 1], groups: [0, 0, 0, 0], responseMask: [[1], [1], [1], [1]] })
    close(out.advantages[0]![0]!, 1 - 1 / 3)
    close(out.advantages[1]![0]!, 0 - 2 / 3)
  })

  it('GAE with γ and λ, per-token rewards, returns; whitening', () => {
    // Tokens at 1..3; values 0.5, 0.2, 0.1; rewards: −0.1 per token (KL) and the score 1 on the last.
    const gamma = 0.9
    const lam = 0.8
    const out = gae({ scores: [1], groups: [0], responseMask: [[0, 1, 1, 1]], values: [[0, 0.5, 0.2, 0.1]], tokenRewards: [[0, -0.1, -0.1, -0.1]], gamma, lam, whiten: false })
    const d3 = -0.1 + 1 + 0 - 0.1
    const d2 = -0.1 + gamma * 0.1 - 0.2
    const d1 = -0.1 + gamma * 0.2 - 0.5
    const a3 = d3
    const a2 = d2 + gamma * lam * a3
    const a1 = d1 + gamma * lam * a2
    const a = out.advantages[0]!
    close(a[1]!, a1)
    close(a[2]!, a2)
    close(a[3]!, a3)
    close(out.returns![0]![1]!, a1 + 0.5)
    const w = gae({ scores: [1, 0], groups: [0, 1], responseMask: [[1, 1], [1, 0]], values: [[0.1, 0.2], [0.3, 0]], whiten: true })
    const all = [w.advantages[0]![0]!, w.advantages[0]![1]!, w.advantages[1]![0]!]
    close(all.reduce((x, y) => x + y, 0) / 3, 0, 1e-6)
    close(std(all), 1, 1e-6)
    assert.equal(w.advantages[1]![1], 0)
  })

  it('registry by name', () => {
    assert.equal(getAdvantage('grpo'), grpo)
    assert.throws(() => getAdvantage('nope'), /unknown advantage estimator "nope"; known: grpo, rloo, gae/)
  })
})
