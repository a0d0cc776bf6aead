import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { importFiles } from '../data/import.js'
import type { ImportOptions } from '../data/loaders/types.js'
import type { QARecord } from '../data/record.js'

/** A named benchmark: files in some layout, optional import options and a record filter. */
export interface Suite {
  name: string
  description: string
  /** Paths relative to the data directory (or absolute). */
  files: string[]
  importOptions?: ImportOptions
  filter?: (r: QARecord) => boolean
}

/** The data directory suites read from by default: ../shared/data beside the checkout, or MEDRL_DATA. */
export function defaultDataDir(): string {
  return process.env.MEDRL_DATA ?? resolve(import.meta.dirname, '..', '..', '..', 'shared', 'data')
}

/** The six benchmarks of AlphaMed (and variants papers use), over the bundled files. */
export const SUITES: Record<string, Suite> = {
  medqa: { name: 'medqa', description: 'MedQA (USMLE) 4-option test, 1,273', files: ['medqa/medqa_input.jsonl'] },
  medmcqa: { name: 'medmcqa', description: 'MedMCQA dev, 4,183', files: ['medmcqa/medmcqa_input.jsonl'] },
  pubmedqa: { name: 'pubmedqa', description: 'PubMedQA official test split, 500 (abstract as context)', files: ['pubmedqa/ori_pqal.json'], filter: (r) => r.split === 'test' },
  'pubmedqa-1000': { name: 'pubmedqa-1000', description: 'PubMedQA, all 1,000 PQA-L questions (the HuatuoGPT-o1 file; 500 overlap the train part)', files: ['pubmedqa/PubMedQA_test.json'] },
  'mmlu-prom': { name: 'mmlu-prom', description: 'MMLU-Pro biology + health, 1,535', files: ['mmlu_pro/MMLU-Pro_Medical_test.json'] },
  'mmlu-pro-health': { name: 'mmlu-pro-health', description: 'MMLU-Pro health, 818 (Med-RLVR’s out-of-distribution test)', files: ['mmlu_pro/health_result.json'] },
  'gpqa-med': { name: 'gpqa-med', description: 'GPQA medical (HuatuoGPT-o1 file: 78 questions × 5 option orders, 390)', files: ['gpqa/GPQA_Medical_test.json'] },
  medxpert: { name: 'medxpert', description: 'MedXpertQA Text: the part present here (Text-1001…2449, 1,449 of 2,450)', files: ['medxpertqa/MedXpertQA_test.jsonl'] },
  'mmlu-medical': { name: 'mmlu-medical', description: 'MMLU medical subjects, 1,089', files: ['mmlu_medical/mmlu_medical_input.jsonl'] },
}

export const DEFAULT_BENCHMARKS = ['medqa', 'medmcqa', 'pubmedqa', 'mmlu-prom', 'gpqa-med', 'medxpert']

/**
 * Resolves benchmark names, or NAME=FILE[,FILE] for a user's own files (any layout), into suites.
 */
export function resolveSuites(specs: readonly string[]): Suite[] {
  return specs.map((spec) => {
    const eq = spec.indexOf('=')
    if (eq > 0) {
      const name = spec.slice(0, eq)
      return { name, description: `user files for ${name}`, files: spec.slice(eq + 1).split(',') }
    }
    const s = SUITES[spec]
    if (!s) throw new Error(`unknown benchmark "${spec}"; known: ${Object.keys(SUITES).join(', ')} (or NAME=FILE for your own)`)
    return s
  })
}

/** The records of a suite, in file order. */
export async function loadSuite(s: Suite, dataDir = defaultDataDir()): Promise<QARecord[]> {
  const files = s.files.map((f) => (f.startsWith('/') || existsSync(f) ? f : join(dataDir, f)))
  for (const f of files) if (!existsSync(f)) throw new Error(`benchmark ${s.name}: ${f} not found (set MEDRL_DATA or give ${s.name}=FILE)`)
  const { records } = await importFiles(files, s.importOptions ?? {})
  return s.filter ? records.filter(s.filter) : records
}
