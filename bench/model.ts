import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parameterCount } from '../src/model/config.js'
import { initWeights, newConfig, saveModel } from '../src/model/files.js'
import type { BenchSection } from './run.js'

/** About 500M parameters, Llama layout, saved in BF16 (1 GB on disk). */
const CONFIG = newConfig({ arch: 'llama', hidden: 1280, layers: 24, heads: 20, kvHeads: 4, intermediate: 3456, vocab: 32000 })

export const modelBench: BenchSection = {
  name: 'model',
  description: 'load time and peak RSS of a ~500M-parameter checkpoint in BF16 (created with model init)',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'medrl-bench-model-'))
    try {
      const t0 = performance.now()
      saveModel(dir, CONFIG, initWeights(CONFIG, 0), { dtype: 'BF16' })
      const saveSeconds = (performance.now() - t0) / 1000
      const bytes = statSync(join(dir, 'model.safetensors')).size
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'load-model.ts'), dir], { encoding: 'utf8' })
      if (r.status !== 0) throw new Error(`loading failed: ${r.stderr}`)
      const load = JSON.parse(r.stdout) as { seconds: number; params: number; peak_rss_mb: number }
      const fp32Mb = (load.params * 4) / 2 ** 20
      return {
        params: parameterCount(CONFIG),
        file_mb: Math.round(bytes / 2 ** 20),
        init_and_save_seconds: saveSeconds,
        load_seconds: load.seconds,
        load_peak_rss_mb: load.peak_rss_mb,
        fp32_weights_mb: Math.round(fp32Mb),
        peak_rss_over_fp32_weights: load.peak_rss_mb / fp32Mb,
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
}
