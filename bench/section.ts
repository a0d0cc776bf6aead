/** What every bench section is and returns; bench/run.ts runs the sections, each section module exports one. */
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
