import { spawnSync } from 'node:child_process'

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
  const env = { ...process.env }
  delete env.OPENBLAS_CORETYPE
  delete env.OPENBLAS_L2_SIZE
  const r = spawnSync('python3', ['-c', script], { env, encoding: 'utf8' })
  if (r.status !== 0) return { gflops: null, detail: `python3/numpy unavailable: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` }
  const [g, v] = r.stdout.trim().split(/\s+/)
  return { gflops: Number(g), detail: `numpy ${v} a @ b, ${n}² fp32, best of 5×10` }
}
