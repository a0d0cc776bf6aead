import { basename } from 'node:path'
import { Command, Option } from 'commander'
import { openBackend } from '../backends/index.js'
import { EmbeddedBackend } from '../backends/embedded.js'
import { importFiles } from '../data/import.js'
import { writeRecords } from '../data/jsonl.js'
import { difficultySummary, estimateDifficulty } from '../difficulty/levels.js'
import { informativeness, informativenessChart } from '../difficulty/informativeness.js'
import { templateNames } from '../reward/templates.js'
import { writeFileAtomic } from '../util/atomic.js'
import { Progress } from '../util/progress.js'
import { floatOption, info, intOption, addBackendOptions } from './util.js'
import { DEFAULT_MAX_NEW_TOKENS } from '../defaults.js'
import { DEFAULT_TEMPLATE, templateHelp } from '../defaults.js'

export function difficultyCommand(): Command {
  return addBackendOptions(new Command('difficulty'))
    .description("AlphaMed's difficulty levels: sample each question k times with a reference model; level = k + 1 − right answers")
    .requiredOption('--data <files...>', 'question files (any layout)')
    .option('-k, --k <k>', 'samples per question', intOption('-k', 1), 5)
    .addOption(new Option('--template <name>', templateHelp(DEFAULT_TEMPLATE.rl)).choices(templateNames()).default(DEFAULT_TEMPLATE.rl.name))
    .option('--chat', "render prompts through the model's chat template")
    .option('--temperature <x>', 'sampling temperature', floatOption('--temperature', 0), 1)
    .option('--max-new-tokens <n>', 'tokens per sample at most', intOption('--max-new-tokens', 1), DEFAULT_MAX_NEW_TOKENS)
    .option('--seed <n>', 'seed', intOption('--seed'), 0)
    .option('--batch-size <n>', 'questions per batch (each saved before the next)', intOption('--batch-size', 1), 16)
    .requiredOption('--out <path>', 'levels.jsonl: the records with meta.difficulty = {level, correct, k, …}')
    .option('--summary <path>', 'write the level histogram by source, length by level and informativeness as JSON')
    .option('--chart <path>', 'write the informativeness chart (PNG; an SVG beside it)')
    .action(async (f: { model?: string; endpoint?: string; apiKey?: string; servedModelName?: string; data: string[]; k: number; template: string; chat?: boolean; temperature: number; maxNewTokens: number; seed: number; batchSize: number; concurrency: number; out: string; summary?: string; chart?: string }) => {
      const { records } = await importFiles(f.data)
      const backend = openBackend({ model: f.model, endpoint: f.endpoint, apiKey: f.apiKey, servedModel: f.servedModelName, concurrency: f.concurrency })
      const progress = new Progress('difficulty', records.length, 'questions')
      try {
        const leveled = await estimateDifficulty(backend, records, {
          k: f.k,
          template: f.template,
          chat: f.chat,
          temperature: f.temperature,
          maxNewTokens: f.maxNewTokens,
          seed: f.seed,
          batchSize: f.batchSize,
          out: `${f.out}.progress.jsonl`,
          onProgress: (d) => progress.update(d),
        })
        progress.stop()
        writeRecords(f.out, leveled)
        const s = difficultySummary(leveled)
        const tok = backend instanceof EmbeddedBackend ? backend.loaded.tokenizer : null
        const inf = informativeness(leveled, tok ? (t) => tok.encode(t).length : undefined)
        for (const [src, h] of Object.entries(s.by_source)) info(`${src}: ${Object.entries(h).sort().map(([l, n]) => `${l} ${n}`).join(', ')}`)
        if (f.summary) writeFileAtomic(f.summary, `${JSON.stringify({ ...s, informativeness: inf }, null, 2)}\n`)
        if (f.chart) {
          const { renderVegaLite } = await import('../report/charts.js')
          const c = await renderVegaLite(informativenessChart(leveled, inf))
          writeFileAtomic(f.chart, c.png)
          writeFileAtomic(f.chart.replace(/\.png$/i, '') + '.svg', c.svg)
        }
        info(`wrote ${leveled.length} records with levels to ${f.out} (${basename(f.out)}.progress.jsonl keeps the samples for resuming)`)
      } finally {
        progress.stop()
        await backend.close()
      }
    })
}
