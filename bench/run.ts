/**
 * `npm run bench [-- --only NAME[,NAME]]`: runs benchmark sections, prints a table per section and merges
 * the figures into bench/results/latest.json (sections not run keep their last figures).
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { writeFileAtomic } from '../src/util/atomic.js'
import { rewardBench } from './reward.js'
import { rewardServiceBench } from './reward-service.js'
import { engineBench } from './engine.js'
import { model15bBench, modelBench } from './model.js'
import { generateBench } from './generate.js'
import { rlBench } from './rl.js'
import { evalBench } from './eval.js'
import { numpyCeilingGflops } from './ceiling.js'
import { llamaCppBench } from './llama-cpp.js'
import { peerBench } from './peer.js'
import type { BenchSection, Figures } from './section.js'

const SECTIONS: BenchSection[] = [engineBench, generateBench, rlBench, evalBench, modelBench, model15bBench, rewardBench, rewardServiceBench, llamaCppBench, peerBench]

function flatten(prefix: string, v: unknown, out: [string, string][]): void {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(prefix ? `${prefix}.${k}` : k, x, out)
  } else out.push([prefix, typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : JSON.stringify(v)])
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const i = args.indexOf('--only')
  const only = i >= 0 ? (args[i + 1] ?? '').split(',').filter(Boolean) : []
  const unknown = only.filter((n) => !SECTIONS.some((s) => s.name === n))
  if (unknown.length > 0) throw new Error(`unknown bench section(s) ${unknown.join(', ')}; known: ${SECTIONS.map((s) => s.name).join(', ')}`)
  const chosen = only.length > 0 ? SECTIONS.filter((s) => only.includes(s.name)) : SECTIONS
  const path = join(dirname(fileURLToPath(import.meta.url)), 'results', 'latest.json')
  const results: Figures = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Figures) : {}
  // Sections compare against the ceiling measured in this same run.
  const ceiling = numpyCeilingGflops()
  ;(globalThis as { __benchCeiling?: number | null }).__benchCeiling = ceiling.gflops
  results.ceiling_gflops = ceiling.gflops
  results.ceiling_detail = ceiling.detail
  for (const s of chosen) {
    process.stderr.write(`bench ${s.name}: ${s.description}\n`)
    const t0 = Date.now()
    // A section that fails is recorded as failed and the others still run.
    const figures = await s.run().catch((e: unknown) => ({ failed: e instanceof Error ? e.message : String(e) }))
    results[s.name] = figures
    const rows: [string, string][] = []
    flatten('', figures, rows)
    const w = Math.max(...rows.map(([k]) => k.length))
    process.stdout.write(`\n== ${s.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n${rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n')}\n`)
  }
  // Later sections read figures of earlier ones (MFU against the same run's ceiling).
  results.machine = { cpus: (await import('node:os')).cpus().length, node: process.version, date: new Date().toISOString() }
  writeFileAtomic(path, `${JSON.stringify(results, null, 2)}\n`)
  process.stderr.write(`\nwrote ${path}\n`)
}

await main()
