import type { Sym } from '../engine/graph.js'
import * as O from '../engine/ops/index.js'
import { Registry } from '../util/registry.js'

/**
 * A per-token estimator of KL(π‖π_ref) from log π and log π_ref, in both of its forms: inside the training graph
 * (the KL loss; autodiff gives its gradient) and on plain numbers (PPO's per-token KL folded into the reward, and
 * the metric). Schulman's k1, k2, k3; `verl` is verl's name for it.
 */
export interface KlEstimator {
  name: string
  verl: string
  graph: (logp: Sym, refLogp: Sym) => Sym
  host: (logp: number, refLogp: number) => number
}

const registry = new Registry<KlEstimator>('a KL estimator', 'KL estimator')

export function registerKlEstimator(e: KlEstimator): void {
  registry.register(e.name, e)
}

export function getKlEstimator(name: string): KlEstimator {
  return registry.get(name)
}

registerKlEstimator({ name: 'k1', verl: 'kl', graph: (logp, ref) => O.sub(logp, ref), host: (logp, ref) => logp - ref })
registerKlEstimator({ name: 'k2', verl: 'mse', graph: (logp, ref) => O.mul(O.square(O.sub(logp, ref)), 0.5), host: (logp, ref) => 0.5 * (logp - ref) ** 2 })
// exp(ref − logp) − (ref − logp) − 1, clamped to [−10, 10] as verl's low_var_kl.
registerKlEstimator({
  name: 'k3',
  verl: 'low_var_kl',
  graph: (logp, ref) => {
    const d = O.sub(ref, logp)
    return O.clamp(O.sub(O.sub(O.exp(d), d), 1), -10, 10)
  },
  host: (logp, ref) => Math.max(-10, Math.min(10, Math.exp(ref - logp) - (ref - logp) - 1)),
})
