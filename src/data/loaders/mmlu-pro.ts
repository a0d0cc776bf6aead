import { DataError } from '../errors.js'
import { letterAt, optionsFromList } from '../record.js'
import type { Loader } from './types.js'
import { answerLetter, asObject, hasKeys, nonEmpty, num, optStr, str, stringList } from './fields.js'

/** The health and biology categories of MMLU-Pro: the "MMLU-ProM" benchmark of AlphaMed. */
export const MMLU_PROM_CATEGORIES = ['health', 'biology'] as const

/** MMLU-Pro records: question_id, question, options (a list of up to 10), answer (letter), answer_index, category, src. */
export const mmluProLoader: Loader = {
  name: 'mmlu-pro',
  description: 'JSON array or JSONL: question_id, question, options [..10], answer (letter), answer_index, category, src (MMLU-Pro)',
  kinds: ['json', 'jsonl'],
  defaultSource: 'mmlu-pro',
  detect: (first) => hasKeys(first, 'question_id', 'question', 'options', 'answer') && Array.isArray(first.options),
  convert(value, loc, ctx) {
    const o = asObject(value, loc)
    const category = optStr(o, 'category', loc)
    const wanted = ctx.opts.categories
    if (wanted !== undefined && (category === undefined || !wanted.includes(category.toLowerCase()))) {
      return { filtered: `category ${JSON.stringify(category)} not in ${wanted.join(',')}` }
    }
    const texts = stringList(o, 'options', loc)
    if (texts.length > 10) throw new DataError(loc, 'options', `at most 10 options (A–J), got ${texts.length}`)
    const answer = answerLetter(o.answer, 'answer', loc)
    if ('answer_index' in o) {
      const idx = num(o, 'answer_index', loc)
      if (idx < 0 || idx >= texts.length || letterAt(idx) !== answer) {
        throw new DataError(loc, 'answer_index', `${idx} does not point at the answer letter ${answer}`)
      }
    }
    const meta: Record<string, unknown> = {}
    if (category !== undefined) meta.category = category
    const src = optStr(o, 'src', loc)
    if (src !== undefined) meta.src = src
    const qid = o.question_id
    if (typeof qid !== 'number' && typeof qid !== 'string') throw new DataError(loc, 'question_id', 'missing')
    return { id: `mmlu-pro-${qid}`, question: nonEmpty(str(o, 'question', loc), 'question', loc).trim(), options: optionsFromList(texts.map((t) => t.trim())) as Record<string, string>, answer, meta }
  },
}
