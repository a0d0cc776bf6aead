import { Rng } from '../util/rng.js'

export interface Interval {
  mean: number
  std: number
  ci95: [number, number]
}

function percentile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
}

/** Mean of per-item values with the std and 95% interval of `resamples` bootstrap resamples (seeded). */
export function bootstrapMean(values: readonly number[], resamples = 1000, seed = 0): Interval {
  const n = values.length
  const mean = n === 0 ? NaN : values.reduce((a, b) => a + b, 0) / n
  if (n === 0) return { mean, std: NaN, ci95: [NaN, NaN] }
  const rng = new Rng(seed)
  const means: number[] = []
  for (let r = 0; r < resamples; r++) {
    let s = 0
    for (let i = 0; i < n; i++) s += values[rng.int(n)]!
    means.push(s / n)
  }
  const m = means.reduce((a, b) => a + b, 0) / resamples
  const std = Math.sqrt(means.reduce((a, b) => a + (b - m) ** 2, 0) / (resamples - 1))
  means.sort((a, b) => a - b)
  return { mean, std, ci95: [percentile(means, 0.025), percentile(means, 0.975)] }
}

/** Paired bootstrap of mean(b − a) over the same items: the difference and its interval. */
export function pairedBootstrap(a: readonly number[], b: readonly number[], resamples = 1000, seed = 0): Interval {
  if (a.length !== b.length) throw new Error(`paired comparison needs the same items (${a.length} vs ${b.length})`)
  return bootstrapMean(
    a.map((x, i) => b[i]! - x),
    resamples,
    seed,
  )
}
