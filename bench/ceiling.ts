import { spawnSync } from 'node:child_process'

/** OpenBLAS settings a machine may pin (a core type, a cache size), which hold a current OpenBLAS below its best. */
export const PINNED_BLAS_VARS = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'] as const

/** This process's environment without the pinned OpenBLAS settings: the conditions the ceiling and the PyTorch peer run under. */
export function blasBestEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const k of PINNED_BLAS_VARS) delete env[k]
  return env
}

/** The pinned OpenBLAS settings of this machine as they stand, and what the ceiling and the peer run with (none of them). */
export function blasConditions(): string {
  const set = PINNED_BLAS_VARS.filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]}`)
  return set.length === 0 ? 'no OpenBLAS settings pinned' : `unset for numpy and PyTorch: ${set.join(', ')}`
}

/**
 * This machine's fp32 matrix-product ceiling, measured now: numpy's `a @ b` (OpenBLAS) at n×n through
 * python3, best of several runs. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for this command only,
 * as they slow a current numpy. Returns null (with the reason) when python3 or numpy is missing.
 */
export function numpyCeilingGflops(n = 1024): { gflops: number | null; detail: string } {
  const script = `
import time, numpy as np
a = np.random.rand(${n}, ${n}).astype(np.float32); b = np.random.rand(${n}, ${n}).astype(np.float32)
a @ b
best = 0.0
for _ in range(5):
    t = time.perf_counter(); k = 10
    for _ in range(k): a @ b
    best = max(best, 2 * ${n}**3 * k / (time.perf_counter() - t) / 1e9)
print(best, np.__version__)
`
  const r = spawnSync('python3', ['-c', script], { env: blasBestEnv(), encoding: 'utf8' })
  if (r.status !== 0) return { gflops: null, detail: `python3/numpy unavailable: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` }
  const [g, v] = r.stdout.trim().split(/\s+/)
  return { gflops: Number(g), detail: `numpy ${v} a @ b, ${n}² fp32, best of 5×10` }
}
