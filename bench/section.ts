/** What every bench section is and returns; bench/run.ts runs the sections, each section module exports one. */

export type Figures = Record<string, unknown>

export interface BenchSection {
  name: string
  description: string
  run(): Promise<Figures>
}
