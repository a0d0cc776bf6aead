import type { Loader } from './types.js'
import { asObject, hasKeys, nonEmpty, optionsObject, optStr, str, checkAnswerText } from './fields.js'
import { positionalId } from './naming.js'

/** The original MedQA (USMLE) JSONL: question, options {A..D|E}, answer_idx, answer, meta_info (step1 / step2&3). */
export const medqaLoader: Loader = {
  name: 'medqa',
  description: 'JSONL: question, options {A..E}, answer_idx, answer, meta_info (original MedQA USMLE)',
  kinds: ['jsonl'],
  defaultSource: 'medqa',
  detect: (first) => hasKeys(first, 'question', 'options', 'answer_idx'),
  convert(value, loc) {
    const o = asObject(value, loc)
    const options = optionsObject(o, 'options', loc)
    const answer = str(o, 'answer_idx', loc).trim().toUpperCase()
    checkAnswerText(o, options, answer, loc)
    const meta: Record<string, unknown> = {}
    const step = optStr(o, 'meta_info', loc)
    if (step !== undefined) meta.meta_info = step
    const id = optStr(o, 'id', loc) ?? positionalId(loc)
    return { id, question: nonEmpty(str(o, 'question', loc), 'question', loc).trim(), options, answer, meta }
  },
}
