import { DataError } from '../errors.js'
import type { RawFile } from '../files.js'
import type { Loader } from './types.js'
import { Registry } from '../../util/registry.js'
import { medrlLoader } from './medrl.js'
import { medxpertqaEvalLoader } from './medxpertqa-eval.js'
import { huatuoLoader } from './huatuo.js'
import { medqaLoader } from './medqa.js'
import { medmcqaLoader } from './medmcqa.js'
import { pubmedqaChatLoader, pubmedqaPqalLoader, pubmedqaTestSplitLoader } from './pubmedqa.js'
import { mmluProLoader } from './mmlu-pro.js'
import { gpqaLoader } from './gpqa.js'
import { medxpertqaLoader, medxpertqaSampledLoader } from './medxpertqa.js'
import { verlLoader } from './verl.js'

const registry = new Registry<Loader>('a loader', 'format', 'known formats')

/** Adds a layout; a user's own loader can be registered the same way before importing. */
export function registerLoader(loader: Loader): void {
  registry.register(loader.name, loader)
}

// Detection tries loaders in this order: the more specific layouts first.
for (const l of [
  medrlLoader,
  verlLoader,
  medmcqaLoader,
  pubmedqaPqalLoader,
  pubmedqaTestSplitLoader,
  pubmedqaChatLoader,
  mmluProLoader,
  medxpertqaSampledLoader,
  medxpertqaLoader,
  huatuoLoader,
  medqaLoader,
  gpqaLoader,
  medxpertqaEvalLoader,
]) {
  registerLoader(l)
}

export function loaderNames(): string[] {
  return registry.names()
}

export function listLoaders(): Loader[] {
  return registry.values()
}

export function getLoader(name: string): Loader {
  return registry.get(name)
}

/** The layout of a file, from its kind and its first parseable row; an error if no loader claims it. */
export function detectLoader(file: RawFile): Loader {
  const first = file.rows.find((r) => r.error === undefined)
  if (first === undefined) throw new DataError({ file: file.path }, '(file)', 'no readable record to detect the format from (use --format)')
  for (const l of registry.values()) {
    if (l.kinds.includes(file.kind) && l.detect(first.value, file)) return l
  }
  const keys = typeof first.value === 'object' && first.value !== null ? Object.keys(first.value).slice(0, 12).join(', ') : typeof first.value
  throw new DataError(first.loc, '(format)', `no known layout has these fields (${keys}); name one with --format (${loaderNames().join(', ')})`)
}
