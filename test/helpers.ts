import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
/** The real public data beside the checkout (../shared/data). */
export const DATA = resolve(ROOT, '..', 'shared', 'data')
export const FIXTURES = join(ROOT, 'test', 'fixtures')

export function dataFile(rel: string): string {
  return join(DATA, rel)
}

export function tempDir(prefix = 'medrl-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs the real `medrl` bin in a child process, as a user would. */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string>; input?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'medrl.js'), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    input: opts.input,
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  })
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

/** Every real data file with the record count its README documents. */
export const REAL_FILES: { file: string; count: number; format: string; source: string }[] = [
  { file: 'medqa/medqa_input.jsonl', count: 1273, format: 'medxpertqa-eval', source: 'medqa' },
  { file: 'medqa/medqa_test.jsonl', count: 1273, format: 'medqa', source: 'medqa' },
  { file: 'medqa/MedQA_USLME_test.json', count: 1273, format: 'huatuo', source: 'medqa' },
  { file: 'medmcqa/medmcqa_input.jsonl', count: 4183, format: 'medxpertqa-eval', source: 'medmcqa' },
  { file: 'medmcqa/MedMCQA_validation.json', count: 4183, format: 'huatuo', source: 'medmcqa' },
  { file: 'medmcqa/medmcqa.parquet', count: 4412, format: 'verl', source: 'medmcqa' },
  { file: 'pubmedqa/ori_pqal.json', count: 1000, format: 'pubmedqa-pqal', source: 'pubmedqa' },
  { file: 'pubmedqa/test_ground_truth.json', count: 500, format: 'pubmedqa-test-split', source: 'pubmedqa' },
  { file: 'pubmedqa/pubmedqa.json', count: 500, format: 'pubmedqa-chat', source: 'pubmedqa' },
  { file: 'pubmedqa/PubMedQA_test.json', count: 1000, format: 'huatuo', source: 'pubmedqa' },
  { file: 'mmlu_pro/biology_result.json', count: 717, format: 'mmlu-pro', source: 'mmlu-pro' },
  { file: 'mmlu_pro/health_result.json', count: 818, format: 'mmlu-pro', source: 'mmlu-pro' },
  { file: 'mmlu_pro/MMLU-Pro_Medical_test.json', count: 1535, format: 'huatuo', source: 'mmlu-prom' },
  { file: 'gpqa/gpqa_diamond.csv', count: 198, format: 'gpqa', source: 'gpqa' },
  { file: 'gpqa/GPQA_Medical_test.json', count: 390, format: 'huatuo', source: 'gpqa-med' },
  { file: 'medxpertqa/MedXpertQA_test.jsonl', count: 1449, format: 'medxpertqa', source: 'medxpert' },
  { file: 'medxpertqa/medxpertqa_sampled_text_input.jsonl', count: 244, format: 'medxpertqa-sampled', source: 'medxpert' },
  { file: 'mmlu_medical/mmlu_medical_input.jsonl', count: 1089, format: 'medxpertqa-eval', source: 'mmlu-medical' },
]
