import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { optionsFromList, type QARecord } from '../src/data/record.js'
import { extractAnswer } from '../src/reward/extract.js'
import { getReward } from '../src/reward/rewards.js'
import { classifyStage } from '../src/reward/stages.js'
import type { BenchSection } from './section.js'
import { defaultDataDir } from '../src/eval/suites.js'

const DATA = defaultDataDir()

/** Completions per second of a function over a corpus, repeated until at least `minMs` have passed. */
function throughput(items: readonly string[], f: (s: string, i: number) => void, minMs = 1500): number {
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < minMs) {
    for (let i = 0; i < items.length; i++) f(items[i]!, i)
    n += items.length
  }
  return n / ((performance.now() - t0) / 1000)
}

export const rewardBench: BenchSection = {
  name: 'reward',
  description: 'answer extraction, rewards and stage classification throughput on real model outputs (MMLU-Pro)',
  async run() {
    const rows = [...JSON.parse(readFileSync(join(DATA, 'mmlu_pro/biology_result.json'), 'utf8')), ...JSON.parse(readFileSync(join(DATA, 'mmlu_pro/health_result.json'), 'utf8'))] as {
      options: string[]
      answer: string
      model_outputs: string
    }[]
    const outputs = rows.map((r) => r.model_outputs)
    const records: QARecord[] = rows.map((r, i) => ({ id: String(i), source: 'mmlu-pro', split: 'test', question: 'q', options: optionsFromList(r.options), answer: r.answer as QARecord['answer'], meta: {} }))
    // The same outputs wrapped in R1 tags, as a policy under training writes them.
    const r1 = rows.map((r) => `<think>${r.model_outputs}</think><answer>${r.answer}</answer>`)
    const meanChars = outputs.reduce((a, s) => a + s.length, 0) / outputs.length
    const fc = getReward('format_correct')
    return {
      corpus: { completions: outputs.length, mean_chars: Math.round(meanChars) },
      extract_lenient_per_s: Math.round(throughput(outputs, (s, i) => extractAnswer(s, records[i]!, { mode: 'lenient', format: 'boxed' }))),
      reward_format_correct_per_s: Math.round(throughput(r1, (s, i) => fc(s, records[i]!, { format: 'r1' }))),
      stage_per_s: Math.round(throughput(r1, (s, i) => classifyStage(s, records[i]!))),
      extract_1mb_adversarial_ms: (() => {
        const t0 = performance.now()
        extractAnswer('answer is '.repeat(1 << 17), records[0]!, { mode: 'lenient' })
        return Math.round(performance.now() - t0)
      })(),
    }
  },
}
