import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Graph, type Sym } from '../../src/engine/graph.js'
import { Program } from '../../src/engine/session.js'
import { Tensor } from '../../src/engine/tensor.js'
import { getKlEstimator } from '../../src/rl/kl.js'
import { aggLoss, getPolicyLoss, valueLoss, type LossAggMode } from '../../src/rl/losses.js'

/** Runs a loss builder on given [B, T] inputs (float64) and returns its scalar outputs. */
async function run(inputs: Record<string, number[][]>, build: (x: Record<string, Sym>) => Record<string, Sym>): Promise<Record<string, number>> {
  const g = new Graph('float64')
  const syms: Record<string, Sym> = {}
  const feeds: Record<string, Tensor> = {}
  for (const [k, v] of Object.entries(inputs)) {
    syms[k] = g.input(k, [v.length, v[0]!.length])
    feeds[k] = Tensor.f64(v.flat(), [v.length, v[0]!.length])
  }
  const p = await Program.compile(g, build(syms))
  const r = await p.run(feeds)
  await p.release()
  return Object.fromEntries(Object.entries(r).map(([k, t]) => [k, t.at(0)]))
}

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} vs ${b}`)

describe('loss aggregation modes', () => {
  const loss = [
    [1, 2, 3],
    [4, 5, 6],
    [7, 8, 9],
  ]
  const mask = [
    [1, 1, 0],
    [1, 0, 0],
    [0, 0, 0],
  ]
  const want: Record<LossAggMode, number> = {
    'token-mean': (1 + 2 + 4) / 3,
    'seq-mean-token-mean': (1.5 + 4 + 0) / 3,
    'seq-mean-token-sum': (3 + 4 + 0) / 3,
    'seq-mean-token-sum-norm': (1 + 2 + 4) / 10,
  }
  for (const [mode, value] of Object.entries(want) as [LossAggMode, number][]) {
    it(`${mode} (a fully masked row included)`, async () => {
      const r = await run({ loss, mask }, (x) => ({ out: aggLoss(x.loss!, x.mask!, mode, 10) }))
      close(r.out!, value)
    })
  }
})

describe('policy losses', () => {
  const base = { clipRatioLow: 0.2, clipRatioHigh: 0.3, clipRatioC: 3, aggMode: 'token-mean' as LossAggMode, aggNorm: 1 }
  it('vanilla: clipped surrogate, dual clip, clip fraction, PPO KL', async () => {
    // Token ratios: e^0.5 (clipped at 1.3 for A > 0), e^-0.5 (for A > 0: no clip, unclipped is larger loss),
    // 1 (A = 2), e^2 with A = −1 (dual clip: −A·ratio = 7.39 > 3 → 3).
    const lr = [Math.log(1.3) + 0.1, -0.5, 0, 2]
    const logProbs = [lr]
    const oldLogProbs = [[0, 0, 0, 0]]
    const advantages = [[1, 1, 2, -1]]
    const mask = [[1, 1, 1, 1]]
    const r = await run({ logProbs, oldLogProbs, advantages, mask }, (x) => {
      const o = getPolicyLoss('vanilla')({ ...base, logProbs: x.logProbs!, oldLogProbs: x.oldLogProbs!, advantages: x.advantages!, responseMask: x.mask! })
      return { loss: o.loss, clipfrac: o.clipfrac, kl: o.ppoKl }
    })
    const ratio = lr.map(Math.exp)
    const tok = [
      Math.max(-1 * ratio[0]!, -1 * 1.3), // −1.3
      Math.max(-1 * ratio[1]!, -1 * 0.8), // −0.6065
      Math.max(-2 * ratio[2]!, -2 * 1), // −2
      Math.min(Math.max(1 * ratio[3]!, 1 * 1.3), 3), // dual clip → 3
    ]
    close(r.loss!, tok.reduce((a, b) => a + b, 0) / 4)
    // Only token 0 is clipped (−A·1.3 > −A·ratio); for token 1 the unclipped term is the larger loss, and the
    // dual clip of token 3 is not counted (verl's pg_clipfrac compares the first two terms).
    close(r.clipfrac!, 1 / 4)
    close(r.kl!, -lr.reduce((a, b) => a + b, 0) / 4)
  })

  it('reinforce: −A · log π, aggregated', async () => {
    const r = await run({ lp: [[-1, -2]], old: [[0, 0]], a: [[1, -0.5]], m: [[1, 1]] }, (x) => ({
      loss: getPolicyLoss('reinforce')({ ...base, logProbs: x.lp!, oldLogProbs: x.old!, advantages: x.a!, responseMask: x.m! }).loss,
    }))
    close(r.loss!, (1 + -1) / 2)
  })

  it('KL estimators k1, k2, k3 per token', async () => {
    const r = await run({ lp: [[-1]], ref: [[-1.5]] }, (x) => ({ k1: getKlEstimator('k1').graph(x.lp!, x.ref!), k2: getKlEstimator('k2').graph(x.lp!, x.ref!), k3: getKlEstimator('k3').graph(x.lp!, x.ref!) }))
    close(r.k1!, 0.5)
    close(r.k2!, 0.125)
    close(r.k3!, Math.exp(-0.5) + 0.5 - 1)
    // The same estimators on plain numbers (PPO's KL in the reward) agree with the graph forms.
    for (const k of ['k1', 'k2', 'k3'] as const) close(getKlEstimator(k).host(-1, -1.5), r[k]!)
  })

  it('clipped value loss', async () => {
    const r = await run({ v: [[1, 0.2]], old: [[0.5, 0]], ret: [[2, 0]], m: [[1, 1]] }, (x) => {
      const o = valueLoss(x.v!, x.old!, x.ret!, x.m!, 0.1, 'token-mean', 1)
      return { loss: o.loss, frac: o.clipfrac }
    })
    // token 0: v 1 → clipped 0.6; losses (1−2)² = 1, (0.6−2)² = 1.96 → 1.96. token 1: 0.04 vs (0.1)² = 0.01 → 0.04.
    close(r.loss!, 0.5 * (1.96 + 0.04) / 2)
    close(r.frac!, 0.5)
  })
})
