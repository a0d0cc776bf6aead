import { Command, Option } from 'commander'
import { importFiles } from '../data/import.js'
import { writeJsonl } from '../data/jsonl.js'
import { resolveReward, rewardNames } from '../reward/rewards.js'
import { readPredictions, scorePredictions } from '../reward/score.js'
import { getTemplate, templateNames } from '../reward/templates.js'
import { info } from './util.js'
import { DEFAULT_TEMPLATE, templateHelp } from '../defaults.js'

export function scoreCommand(): Command {
  return new Command('score')
    .description('score model outputs: extracted answer, correctness, format, reward and reasoning stage per item')
    .requiredOption('--data <files...>', 'the questions (any layout `medrl data import` reads)')
    .requiredOption('--predictions <path>', 'JSONL of {"id": …, "output": "…"} (several lines per id are fine)')
    .addOption(new Option('--template <name>', templateHelp(DEFAULT_TEMPLATE.rl, 'the prompt template the outputs answer')).choices(templateNames()).default(DEFAULT_TEMPLATE.rl.name))
    .option('--reward <spec>', `reward name (${rewardNames().join(', ')}) or a weighted sum "binary:1,format:0.1"`, 'format_correct')
    .addOption(new Option('--mode <mode>', 'answer extraction: strict (what training uses) or lenient').choices(['strict', 'lenient']).default('strict'))
    .option('--out <path>', 'write one JSON line per prediction: id, extracted, correct, format_valid, reward, stage')
    .option('--json', 'print the summary as JSON')
    .action(async (flags: { data: string[]; predictions: string; template: string; reward: string; mode: 'strict' | 'lenient'; out?: string; json?: boolean }) => {
      const { records } = await importFiles(flags.data)
      const predictions = readPredictions(flags.predictions)
      const { items, summary } = scorePredictions(records, predictions, { template: getTemplate(flags.template), reward: resolveReward(flags.reward), mode: flags.mode }, flags.predictions)
      if (flags.out !== undefined) {
        writeJsonl(flags.out, items)
        info(`wrote ${items.length} items to ${flags.out}`)
      }
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
        return
      }
      const pct = (x: number) => `${(100 * x).toFixed(2)}%`
      const lines = [
        `items          ${summary.n}`,
        `accuracy       ${pct(summary.accuracy)}`,
        `format rate    ${pct(summary.format_rate)}`,
        `invalid rate   ${pct(summary.invalid_rate)}`,
        `mean reward    ${summary.reward_mean.toFixed(4)}`,
      ]
      if (summary.stages) for (const [s, n] of Object.entries(summary.stages)) lines.push(`stage ${s.padEnd(24)} ${n}`)
      process.stdout.write(`${lines.join('\n')}\n`)
    })
}
