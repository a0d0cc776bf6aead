import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LETTERS } from '../src/data/record.js'
import { defaultDataDir } from '../src/eval/suites.js'
import { rewardModuleText } from '../src/verl/reward-module.js'
import { RewardService } from '../src/verl/reward-service.js'
import type { BenchSection } from './section.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
/** Debian's python3, as in verl's reward workers: the standard library only. */
const PY = '/usr/bin/python3'

export const rewardServiceBench: BenchSection = {
  name: 'reward-service',
  description: "scorings per second of verl's path: reward.py (python3, concurrent compute_score calls) → medrl reward serve on loopback",
  async run() {
    if (spawnSync(PY, ['-c', 'import asyncio'], { stdio: 'ignore' }).status !== 0) return { skipped: `${PY} not found (Debian's python3 runs reward.py as verl's workers would)` }
    const DATA = defaultDataDir()
    const rows = [...JSON.parse(readFileSync(join(DATA, 'mmlu_pro/biology_result.json'), 'utf8')), ...JSON.parse(readFileSync(join(DATA, 'mmlu_pro/health_result.json'), 'utf8'))] as { question_id: number; options: string[]; answer: string; model_outputs: string }[]
    // R1 completions (real reasoning text in <think>) scored with format_correct: what a Med-RLVR run asks per response.
    const call = (r: (typeof rows)[number]) => ({
      data_source: 'mmlu-pro',
      solution_str: `<think>${r.model_outputs}</think><answer>${r.answer}</answer>`,
      ground_truth: r.answer,
      extra_info: { id: `mmlu-pro-${r.question_id}`, answer: r.answer, options: Object.fromEntries(r.options.map((t, i) => [LETTERS[i], t])), template: 'r1', reward: 'format_correct', extract_mode: 'strict', meta: '{}' },
    })
    const n = 16_384
    const calls = Array.from({ length: n }, (_, i) => call(rows[i % rows.length]!))
    const dir = mkdtempSync(join(tmpdir(), 'medrl-bench-reward-'))
    writeFileSync(join(dir, 'calls.jsonl'), calls.map((c) => JSON.stringify(c)).join('\n') + '\n')
    const service = new RewardService()
    const addr = await service.listen(0)
    const url = `http://127.0.0.1:${addr.port}`
    writeFileSync(join(dir, 'reward.py'), rewardModuleText({ url }))
    try {
      // The service runs in this process: the client must not block it, so it is a child process.
      const r = await new Promise<{ code: number; out: string }>((resolve) => {
        const child = spawn(PY, [join(ROOT, 'test', 'verl', 'call_reward.py'), join(dir, 'reward.py'), join(dir, 'calls.jsonl'), '--time'])
        let out = ''
        child.stdout.on('data', (b: Buffer) => (out += b.toString()))
        child.stderr.on('data', (b: Buffer) => (out += b.toString()))
        child.on('close', (code: number | null) => resolve({ code: code ?? 1, out }))
      })
      if (r.code !== 0) return { skipped: `reward.py under ${PY} failed: ${r.out.trim().slice(0, 300)}` }
      const t = JSON.parse(r.out.trim().split('\n').pop()!) as { calls: number; seconds: number }
      return {
        calls: t.calls,
        seconds: Number(t.seconds.toFixed(2)),
        scorings_per_s: Math.round(t.calls / t.seconds),
        batches: service.scored.requests,
        mean_batch: Math.round(service.scored.items / Math.max(1, service.scored.requests)),
        // A step of 512 prompts × 8 responses a minute needs 70 scorings/s.
        headroom_over_70_per_s: Math.round(t.calls / t.seconds / 70),
      }
    } finally {
      await service.close()
    }
  },
}

