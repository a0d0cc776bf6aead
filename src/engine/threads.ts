import { cpus } from 'node:os'

/** Threads for onnxruntime's intra-op pool and the optimizer: every core unless MEDRL_THREADS says otherwise. */
export function engineThreads(): number {
  const env = Number(process.env.MEDRL_THREADS)
  return Number.isInteger(env) && env > 0 ? env : Math.max(1, cpus().length)
}
