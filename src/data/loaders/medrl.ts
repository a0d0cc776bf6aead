import type { Loader } from './types.js'
import { asObject, hasKeys } from './fields.js'

/** medrl's own JSONL records (what `medrl data import` writes), read back and re-validated. */
export const medrlLoader: Loader = {
  name: 'medrl',
  description: "medrl records: id, source, split, question, [context], options {A..}, answer, meta",
  kinds: ['jsonl', 'json'],
  detect: (first) => hasKeys(first, 'id', 'source', 'split', 'question', 'options', 'answer'),
  convert(value, loc) {
    const o = asObject(value, loc)
    return o as never // validated as a whole record by the importer
  },
}
