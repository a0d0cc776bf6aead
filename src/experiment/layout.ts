import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { isComplete } from '../eval/runner.js'
import { readResults } from '../eval/tables.js'

/** Where one cell (variant × seed) of an experiment's grid lives: subset.jsonl, run/, eval/. */
export function cellDir(out: string, variant: string, seed: number): string {
  return join(out, 'cells', variant, `seed-${seed}`)
}

/** Whether a cell has finished: its held-out evaluation is complete. */
export function cellFinished(out: string, variant: string, seed: number): boolean {
  const e = join(cellDir(out, variant, seed), 'eval')
  return existsSync(join(e, 'results.json')) && isComplete(readResults(e))
}

/** How long a cell took in the run that finished it (what `--plan` estimates the cells left by). */
export interface CellTiming {
  method: 'rl' | 'sft'
  engine: string
  /** Steps trained in that run (a resumed cell trains only the rest). */
  steps: number
  train_seconds: number
  /** Export, serving and evaluation. */
  eval_seconds: number
}

export const CELL_TIMING = 'cell-timing.json'
