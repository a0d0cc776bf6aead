import { Command, Option } from 'commander'
import { openBackend } from '../backends/index.js'
import type { BackendRequest } from '../backends/types.js'
import { importFiles } from '../data/import.js'
import { renderPrompt, templateNames, getTemplate } from '../reward/templates.js'
import { JsonlLog } from '../util/jsonl-log.js'
import { Progress } from '../util/progress.js'
import { floatOption, info, intOption, addBackendOptions } from './util.js'
import { writeFileAtomic } from '../util/atomic.js'
import { DEFAULT_GEN } from '../generate/generator.js'
import { DEFAULT_TEMPLATE, templateHelp } from '../defaults.js'

export interface CompletionRow {
  id: string
  sample: number
  output: string
  finish_reason: string
  completion_tokens: number | null
}

export function generateCommand(): Command {
  return addBackendOptions(new Command('generate'))
    .description('generate completions for question records with a template; resumable (finished items are skipped)')
    .requiredOption('--data <files...>', 'question files (any layout `medrl data import` reads)')
    .addOption(new Option('--template <name>', templateHelp(DEFAULT_TEMPLATE.rl)).choices(templateNames()).default(DEFAULT_TEMPLATE.rl.name))
    .option('--chat', "render prompts as chat messages (the model's chat template / /chat/completions)")
    .option('-n, --n <n>', 'completions per question', intOption('-n', 1), 1)
    .option('--max-new-tokens <n>', 'tokens per completion at most', intOption('--max-new-tokens', 1), DEFAULT_GEN.maxNewTokens)
    .option('--temperature <x>', 'sampling temperature (0 = greedy)', floatOption('--temperature', 0), 1)
    .option('--top-p <x>', 'nucleus sampling', floatOption('--top-p'), 1)
    .option('--seed <n>', 'seed (each question gets seed + its index)', intOption('--seed'), 0)
    .option('--batch-size <n>', 'questions per batch (each batch is saved before the next starts)', intOption('--batch-size', 1), 16)
    .option('--limit <n>', 'first N questions only', intOption('--limit', 1))
    .requiredOption('--out <path>', 'completions JSONL (appended to; rerunning resumes)')
    .action(async (f: { model?: string; endpoint?: string; apiKey?: string; servedModelName?: string; data: string[]; template: string; chat?: boolean; n: number; maxNewTokens: number; temperature: number; topP: number; seed: number; batchSize: number; concurrency: number; limit?: number; out: string }) => {
      const { records: all } = await importFiles(f.data)
      const records = f.limit !== undefined ? all.slice(0, f.limit) : all
      let log = new JsonlLog<CompletionRow>(f.out)
      const count = () => {
        const have = new Map<string, number>()
        for (const r of log.rows) have.set(r.id, (have.get(r.id) ?? 0) + 1)
        return have
      }
      let have = count()
      // A kill while a batch was written leaves one question with fewer than n samples, at the end of the file:
      // its lines are dropped and it is redone. Fewer samples for more questions, or elsewhere, means -n changed.
      const short = new Set([...have.entries()].filter(([, c]) => c < f.n).map(([id]) => id))
      if (short.size > 0) {
        const firstShort = log.rows.findIndex((r) => short.has(r.id))
        if (short.size > 1 || !log.rows.slice(firstShort).every((r) => short.has(r.id))) {
          const id = log.rows[firstShort]!.id
          throw new Error(`${f.out} holds fewer than ${f.n} samples for ${short.size} question(s) (e.g. ${id}): was -n changed? Use a new --out`)
        }
        const keep = log.rows.slice(0, firstShort)
        log.close()
        writeFileAtomic(f.out, keep.map((r) => `${JSON.stringify(r)}\n`).join(''))
        log = new JsonlLog<CompletionRow>(f.out)
        have = count()
        info(`redoing ${short.size} question(s) whose samples were cut off at the end of ${f.out}`)
      }
      const todo = records.map((r, i) => ({ r, i })).filter(({ r }) => (have.get(r.id) ?? 0) < f.n)
      if (todo.length < records.length) info(`resuming: ${records.length - todo.length} of ${records.length} questions already done in ${f.out}`)
      const backend = openBackend({ model: f.model, endpoint: f.endpoint, apiKey: f.apiKey, servedModel: f.servedModelName, concurrency: f.concurrency })
      const template = getTemplate(f.template)
      const progress = new Progress('generate', todo.length, 'questions')
      let done = 0
      try {
        for (let s = 0; s < todo.length; s += f.batchSize) {
          const batch = todo.slice(s, s + f.batchSize)
          const reqs: BackendRequest[] = batch.map(({ r, i }) => {
            const p = renderPrompt(r, template)
            const params = { maxNewTokens: f.maxNewTokens, temperature: f.temperature, topP: f.topP, n: f.n, seed: f.seed + i }
            return f.chat ? { messages: template.messages(p.record), params } : { prompt: p.text, params }
          })
          const out = await backend.generate(reqs)
          log.append(batch.flatMap(({ r }, k) => out[k]!.map((c, sample) => ({ id: r.id, sample, output: c.text, finish_reason: c.finishReason, completion_tokens: c.completionTokens ?? null }))))
          done += batch.length
          progress.update(done)
        }
      } finally {
        progress.stop()
        log.close()
        await backend.close()
      }
      info(`wrote ${done * f.n} completions (${log.rows.length} in ${f.out})`)
    })
}
