import { spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { FIXTURES, ROOT } from './helpers.js'

/** Debian's python3, where CI installs python3-omegaconf, python3-jinja2 and python3-torch. */
export const PY = '/usr/bin/python3'

/**
 * The environment that puts the stand-ins of verl (a `verl` package on PYTHONPATH, written from verl 0.9's source),
 * vLLM (a `vllm` command that serves with `medrl serve`), Ray's job CLI (`ray job submit/stop`) and torchrun
 * (Debian's, with its Python 3.11 fix) where medrl looks for the real ones.
 */
export function standinEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    PATH: `${join(FIXTURES, 'torchrun-debian')}:${join(FIXTURES, 'vllm-standin')}:${join(FIXTURES, 'ray-standin')}:${process.env.PATH ?? ''}`,
    PYTHONPATH: join(FIXTURES, 'verl-standin'),
    MEDRL_PYTHON: PY,
    MEDRL_CLUSTER_PYTHON: PY,
    MEDRL_NODE: process.execPath,
    ...extra,
  }
}

/** Why the stand-ins cannot run here (a Debian package missing), or false. */
export function standinMissing(): string | false {
  const r = spawnSync(PY, ['-c', 'import omegaconf, jinja2, torch, yaml'], { encoding: 'utf8' })
  return r.status === 0 ? false : `the verl stand-in needs Debian's python3-omegaconf, python3-jinja2 and python3-torch (.ci/run installs them): ${(r.stderr || '').trim().split('\n').pop()}`
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })
}

/** Processes whose command line mentions `needle` (none should outlive a stopped run). */
export function processesMentioning(needle: string): string[] {
  const r = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
  return r.stdout.split('\n').filter((l) => l.includes(needle) && !l.includes('ps -eo'))
}

export const DEMO_BASE = join(ROOT, 'assets', 'demo-base')
