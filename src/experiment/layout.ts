import { join } from 'node:path'

/** Where one cell (variant × seed) of an experiment's grid lives: subset.jsonl, run/, eval/. */
export function cellDir(out: string, variant: string, seed: number): string {
  return join(out, 'cells', variant, `seed-${seed}`)
}
