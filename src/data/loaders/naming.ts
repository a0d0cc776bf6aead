import { basename, dirname, extname } from 'node:path'

/** A file's name without directory and extension. */
export function fileStem(path: string): string {
  return basename(path, extname(path))
}

const SOURCE_PATTERNS: [RegExp, string][] = [
  [/medxpert/i, 'medxpert'],
  [/medmcqa/i, 'medmcqa'],
  [/pubmedqa|pqal/i, 'pubmedqa'],
  [/medqa/i, 'medqa'],
  [/mmlu[-_ ]?pro[-_ ]?med/i, 'mmlu-prom'],
  [/mmlu[-_ ]?pro/i, 'mmlu-pro'],
  [/gpqa[-_ ]?med/i, 'gpqa-med'],
  [/gpqa/i, 'gpqa'],
  [/mmlu/i, 'mmlu-medical'],
]

/** The benchmark a file belongs to, from its name (then its folder's), or undefined when neither says. */
export function sourceFromPath(path: string): string | undefined {
  for (const name of [basename(path), basename(dirname(path))]) {
    for (const [re, source] of SOURCE_PATTERNS) if (re.test(name)) return source
  }
  return undefined
}

/** The split a file name states (test, dev, train), or undefined. */
export function splitFromPath(path: string): string | undefined {
  const name = fileStem(path).toLowerCase()
  if (/(^|[^a-z])test([^a-z]|$)/.test(name)) return 'test'
  if (/(^|[^a-z])(dev|val|valid|validation)([^a-z]|$)/.test(name)) return 'dev'
  if (/(^|[^a-z])train([^a-z]|$)/.test(name)) return 'train'
  return undefined
}

/** The split a benchmark is evaluated on when nothing else says: MedMCQA's test answers are unpublished, so dev. */
export function usualSplit(source: string): string {
  return source === 'medmcqa' ? 'dev' : 'test'
}

/** An id for a record whose file gives none: the file's name and the record's position, stable for that file. */
export function positionalId(loc: { file: string; index?: number; line?: number }): string {
  return `${fileStem(loc.file)}-${loc.index ?? (loc.line ?? 1) - 1}`
}
