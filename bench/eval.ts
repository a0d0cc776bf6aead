import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EmbeddedBackend } from '../src/backends/embedded.js'
import type { Backend } from '../src/backends/types.js'
import { runEval } from '../src/eval/runner.js'
import { defaultDataDir, resolveSuites } from '../src/eval/suites.js'
import { saveTrainedTokenizer } from '../src/model/bpe.js'
import { initWeights, loadModel, newConfig, saveModel } from '../src/model/files.js'
import { readFileSync } from 'node:fs'
import type { BenchSection } from './section.js'

/** A full MedQA pass (1,273 items, greedy, 16 new tokens, boxed template) of a tiny model on the embedded backend. */
export const evalBench: BenchSection = {
  name: 'eval',
  description: 'items/s of a full MedQA pass of a tiny model (embedded backend) and the share of time outside generation',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'medrl-bench-eval-'))
    try {
      const lines = readFileSync(join(defaultDataDir(), 'medqa', 'medqa_input.jsonl'), 'utf8').split('\n').slice(0, 300)
      saveTrainedTokenizer(dir, lines, 2000)
      const config = newConfig({ arch: 'llama', hidden: 128, layers: 4, heads: 4, kvHeads: 2, intermediate: 352, vocab: 2005, maxPositions: 2048 })
      saveModel(dir, config, initWeights(config, 0))
      const inner = new EmbeddedBackend(loadModel(dir), { maxBatch: 32 })
      let genSeconds = 0
      const timed: Backend = {
        kind: inner.kind,
        model: inner.model,
        generate: async (reqs, o) => {
          const t0 = performance.now()
          const r = await inner.generate(reqs, o)
          genSeconds += (performance.now() - t0) / 1000
          return r
        },
        close: () => inner.close(),
      }
      const t0 = performance.now()
      const res = await runEval(timed, { suites: resolveSuites(['medqa']), template: 'boxed', maxNewTokens: 16, batchSize: 32, out: join(dir, 'out') })
      const wall = (performance.now() - t0) / 1000
      await timed.close()
      return {
        items: res.benchmarks.medqa!.n,
        seconds: wall,
        items_per_s: res.benchmarks.medqa!.n / wall,
        generation_seconds: genSeconds,
        share_outside_generation: (wall - genSeconds) / wall,
        model_params: 'hidden 128, 4 layers, vocab 2005',
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
}
