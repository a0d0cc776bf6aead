/** What every bench section is and returns, and what sections and their workers share; bench/run.ts runs the sections, each section module exports one. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export type Figures = Record<string, unknown>

export interface BenchSection {
  name: string
  description: string
  run(): Promise<Figures>
}

/** Runs `f` in a fresh temporary directory, removed afterwards whatever happens. */
export async function inTempDir<T>(prefix: string, f: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  try {
    return await f(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** a / b when both are numbers and b > 0, else null (a figure missing or a piece that took no time). */
export const ratio = (a: unknown, b: unknown): number | null => (typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : null)

/** The adapters' rank in the LoRA rows: verl's and PEFT's usual 16. */
export const LORA_RANK = 16

/** The bench's LoRA of a rank: alpha twice the rank, every linear layer (bench/peer.py uses the same). */
export const benchLora = (rank: number) => ({ rank, alpha: 2 * rank, target_modules: 'all-linear' as const })
