import { Command, Option } from 'commander'
import { openBackend } from '../backends/index.js'
import { writeFileAtomic } from '../util/atomic.js'
import { compareRuns, finishedInBoth, loadReferences, readPredictions, readResults, resultTable, tableCsv, tableMarkdown } from '../eval/tables.js'
import { runEval, DEFAULT_EVAL_EXTRACTION } from '../eval/runner.js'
import { DEFAULT_BENCHMARKS, resolveSuites, SUITES } from '../eval/suites.js'
import { templateNames } from '../reward/templates.js'
import { Progress } from '../util/progress.js'
import { floatOption, info, intOption, listOption, addBackendOptions } from './util.js'
import { basename, join } from 'node:path'
import { DEFAULT_MAX_NEW_TOKENS } from '../defaults.js'
import { DEFAULT_TEMPLATE, templateHelp } from '../defaults.js'

function pct(x: number): string {
  return (100 * x).toFixed(2)
}

export function evalCommand(): Command {
  return addBackendOptions(new Command('eval'))
    .description(`evaluate a model on medical benchmarks (${Object.keys(SUITES).join(', ')}; or NAME=FILE)`)
    .option('--benchmarks <list>', 'benchmarks, comma-separated', listOption)
    .addOption(new Option('--template <name>', templateHelp(DEFAULT_TEMPLATE.eval)).choices(templateNames()).default(DEFAULT_TEMPLATE.eval.name))
    .option('--chat', "render prompts through the model's chat template (/chat/completions for --endpoint)")
    .option('--samples <k>', 'completions per item: 1 = greedy; k > 1 also reports pass@k and maj@k', intOption('--samples', 1), 1)
    .option('--temperature <x>', 'sampling temperature (default 0 for one sample, 1 for several)', floatOption('--temperature', 0))
    .option('--max-new-tokens <n>', 'tokens per completion at most', intOption('--max-new-tokens', 1), DEFAULT_MAX_NEW_TOKENS)
    .addOption(new Option('--mode <mode>', 'answer extraction: strict reads only the answer the template asks for (the papers’ numbers); lenient also reads "the answer is X" statements').choices(['lenient', 'strict']).default(DEFAULT_EVAL_EXTRACTION))
    .option('--limit <n>', 'first N items of each benchmark', intOption('--limit', 1))
    .option('--batch-size <n>', 'items per generation batch (saved before the next)', intOption('--batch-size', 1), 16)
    .option('--seed <n>', 'seed of sampling and bootstrap', intOption('--seed'), 0)
    .option('--data-dir <dir>', 'where the benchmark files are (default: ../shared/data, or MEDRL_DATA)')
    .requiredOption('--out <dir>', 'results directory (results.json, predictions.jsonl); rerunning resumes')
    .action(async (f: { model?: string; endpoint?: string; apiKey?: string; servedModelName?: string; benchmarks?: string[]; template: string; chat?: boolean; samples: number; temperature?: number; maxNewTokens: number; mode: 'lenient' | 'strict'; limit?: number; batchSize: number; concurrency: number; seed: number; dataDir?: string; out: string }) => {
      const suites = resolveSuites(f.benchmarks ?? DEFAULT_BENCHMARKS)
      const backend = openBackend({ model: f.model, endpoint: f.endpoint, apiKey: f.apiKey, servedModel: f.servedModelName, concurrency: f.concurrency })
      let progress: Progress | null = null
      let current = ''
      try {
        const r = await runEval(backend, {
          suites,
          template: f.template,
          chat: f.chat,
          limit: f.limit,
          samples: f.samples,
          temperature: f.temperature,
          maxNewTokens: f.maxNewTokens,
          seed: f.seed,
          batchSize: f.batchSize,
          mode: f.mode,
          dataDir: f.dataDir,
          out: f.out,
          onProgress: (bench, done, total) => {
            if (bench !== current) {
              progress?.stop()
              progress = new Progress(bench, total, 'items')
              current = bench
            }
            progress!.update(done)
          },
        })
        ;(progress as Progress | null)?.stop()
        const g = r.generation
        const lines = [
          `template ${r.template}${r.chat ? ' (chat)' : ''} · ${r.extraction} extraction · ${g.samples > 1 ? `${g.samples} samples at temperature ${g.temperature}` : 'greedy'} · at most ${g.max_new_tokens} new tokens`,
          'benchmark        n      accuracy   ±std    95% CI            invalid',
        ]
        for (const [name, b] of Object.entries(r.benchmarks)) {
          lines.push(`${name.padEnd(16)} ${String(b.n).padStart(5)}  ${pct(b.accuracy).padStart(8)}  ${pct(b.std).padStart(6)}  [${pct(b.ci95[0])}, ${pct(b.ci95[1])}]`.padEnd(58) + ` ${pct(b.invalid_rate)}%` + (b.pass_at_k !== undefined ? `  pass@${b.samples} ${pct(b.pass_at_k)}  maj@${b.samples} ${pct(b.maj_at_k!)}` : ''))
        }
        lines.push(`average          ${pct(r.average).padStart(15)}`)
        process.stdout.write(`${lines.join('\n')}\n`)
        info(`wrote ${join(f.out, 'results.json')} and predictions.jsonl`)
      } finally {
        await backend.close()
      }
    })
}

export function compareCommand(): Command {
  return new Command('compare')
    .description('paired comparison of two eval result directories (e.g. before and after RL): accuracy difference with a paired bootstrap interval')
    .argument('<before>', 'results directory A')
    .argument('<after>', 'results directory B')
    .option('--resamples <n>', 'bootstrap resamples', intOption('--resamples'), 1000)
    .option('--seed <n>', 'bootstrap seed', intOption('--seed'), 0)
    .option('--json', 'print JSON')
    .action((a: string, b: string, f: { resamples: number; seed: number; json?: boolean }) => {
      const { finished, unfinished } = finishedInBoth(a, b)
      if (unfinished.length > 0) info(`left out, not finished in both evaluations (a killed run?): ${unfinished.join(', ')}`)
      if (finished.size === 0) throw new Error(`${a} and ${b} have no benchmark both finished`)
      const rows = compareRuns(readPredictions(a), readPredictions(b), f.resamples, f.seed, finished)
      if (f.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`)
        return
      }
      const lines = ['benchmark        n      before   after    diff     95% CI']
      for (const r of rows) lines.push(`${r.benchmark.padEnd(16)} ${String(r.n).padStart(5)}  ${pct(r.a).padStart(7)}  ${pct(r.b).padStart(7)}  ${(r.diff.mean >= 0 ? '+' : '') + pct(r.diff.mean)}  [${pct(r.diff.ci95[0])}, ${pct(r.diff.ci95[1])}]`)
      process.stdout.write(`${lines.join('\n')}\n`)
    })
}

export function tableCommand(): Command {
  return new Command('table')
    .description('results of eval runs beside published references (markdown, CSV or JSON)')
    .argument('<dirs...>', 'results directories')
    .addOption(new Option('--format <fmt>', 'output format').choices(['md', 'csv', 'json']).default('md'))
    .option('--references <file>', 'published results (default: data/references.json of medrl)')
    .option('--no-references', 'leave the published rows out')
    .option('--out <file>', 'write to a file instead of stdout')
    .action((dirs: string[], f: { format: 'md' | 'csv' | 'json'; references?: string | false; out?: string }) => {
      const refs = f.references === false ? [] : loadReferences(typeof f.references === 'string' ? f.references : undefined)
      const t = resultTable(
        dirs.map((d) => ({ name: readResults(d).model ? basename(readResults(d).model) : basename(d), results: readResults(d) })),
        refs,
      )
      const text = f.format === 'md' ? tableMarkdown(t) : f.format === 'csv' ? tableCsv(t) : `${JSON.stringify(t, null, 2)}\n`
      if (f.out) writeFileAtomic(f.out, text)
      else process.stdout.write(text)
    })
}
