import type { Loader } from './types.js'
import { asObject, hasKeys, nonEmpty, optionsObject, str, checkAnswerText } from './fields.js'
import { positionalId } from './naming.js'

/**
 * The HuatuoGPT-o1 evaluation layout: a JSON array of {question, options {A..}, answer_idx, answer}. The
 * records carry no id, so the id is the file's name and the record's position (stable for a given file).
 */
export const huatuoLoader: Loader = {
  name: 'huatuo',
  description: 'JSON array: question, options {A..}, answer_idx, answer (HuatuoGPT-o1 eval data)',
  kinds: ['json'],
  detect: (first, file) => !file.keyed && hasKeys(first, 'question', 'options', 'answer_idx') && !('meta_info' in first),
  convert(value, loc) {
    const o = asObject(value, loc)
    const options = optionsObject(o, 'options', loc)
    const answer = str(o, 'answer_idx', loc).trim().toUpperCase()
    checkAnswerText(o, options, answer, loc)
    return { id: positionalId(loc), question: nonEmpty(str(o, 'question', loc), 'question', loc).trim(), options, answer, meta: {} }
  },
}
