import type { DataError, Location } from '../errors.js'
import type { FileKind, RawFile } from '../files.js'
import type { QARecord } from '../record.js'

/** Options that shape an import; each loader reads the ones that concern its layout. */
export interface ImportOptions {
  /** Loader name; detected from the file when absent. */
  format?: string
  /** Benchmark name for every record (default: from the file name). */
  source?: string
  /** Split for every record (default: from the file name, else the source's usual split). */
  split?: string
  /** Go on past invalid records and report each, instead of stopping at the first. */
  skipInvalid?: boolean
  /** Seed for layouts whose options must be shuffled (GPQA). */
  seed?: number
  /** MMLU-Pro: keep these categories only (e.g. health, biology). */
  categories?: string[]
  /** GPQA: keep these high-level domains only (e.g. Biology). */
  domains?: string[]
  /** PubMedQA PQA-L: the official test split file (default: test_ground_truth.json beside it). */
  pubmedqaSplitFile?: string
  /** MedMCQA original layout: whether `cop` counts from 1 (the published JSON) or 0 (some exports). */
  copBase?: 0 | 1
}

/** What a loader knows while converting one file. */
export interface LoaderContext {
  file: RawFile
  opts: ImportOptions
  source: string
  split: string
  /** Things the user should know about this import (printed in the summary, never silent). */
  notes: string[]
}

/** A record as a loader builds it, before validation; source and split default to the file's. */
export interface Draft {
  id: string
  question: string
  context?: string
  options: Record<string, string>
  answer: string
  meta: Record<string, unknown>
  source?: string
  split?: string
}

/** A row an import option left out, with the reason (counted in the summary). */
export interface Filtered {
  filtered: string
}

/** A loader's answer for one row: a record, nothing (filtered out by an option, with the reason), or an error. */
export type RowOutcome = { record: QARecord } | { filtered: string } | { error: DataError }

export interface Loader {
  name: string
  description: string
  kinds: readonly FileKind[]
  /** True when the first row (and the file's shape) is this layout. */
  detect(first: unknown, file: RawFile): boolean
  /** Called once per file before rows, for loaders that need the whole file or a companion file. */
  prepare?(ctx: LoaderContext): void | Promise<void>
  /** Converts one row into a record (validated afterwards by the importer). Throws DataError on bad input. */
  convert(value: unknown, loc: Location, ctx: LoaderContext): Draft | Filtered
  /** The source name this layout implies for a file, if the file name does not say. */
  defaultSource?: string
  /** The split this layout implies when the file name does not say (e.g. verl rows are training data). */
  defaultSplit?: string
}
