import { DataError } from '../errors.js'
import { parseAnswerChoices } from '../option-text.js'
import { optionsFromList } from '../record.js'
import type { Loader } from './types.js'
import { answerLetter, asObject, hasKeys, nonEmpty, optStr, str } from './fields.js'
import { positionalId } from './naming.js'

const META_FIELDS = ['subject', 'subject_name', 'topic_name', 'label_rationale'] as const

/**
 * The MedXpertQA evaluation layout used for MedQA, MedMCQA and MMLU medical: the options sit inside the
 * question text after "Answer Choices: (A) … (B) …", and `label` is a one-letter list.
 */
export const medxpertqaEvalLoader: Loader = {
  name: 'medxpertqa-eval',
  description: 'JSONL: id?, question with "Answer Choices: (A) …" inside, label ["B"] (MedXpertQA eval inputs)',
  kinds: ['jsonl', 'json'],
  detect: (first) => hasKeys(first, 'question', 'label') && !('options' in first),
  convert(value, loc) {
    const o = asObject(value, loc)
    const text = nonEmpty(str(o, 'question', loc), 'question', loc)
    const parsed = parseAnswerChoices(text)
    if (!parsed.ok) throw new DataError(loc, 'question', parsed.reason)
    const meta: Record<string, unknown> = {}
    for (const f of META_FIELDS) {
      const v = optStr(o, f, loc)
      if (v !== undefined) meta[f === 'subject_name' ? 'subject' : f === 'topic_name' ? 'topic' : f] = v
    }
    const id = optStr(o, 'id', loc) ?? positionalId(loc)
    return { id, question: parsed.value.stem, options: optionsFromList(parsed.value.options) as Record<string, string>, answer: answerLetter(o.label, 'label', loc), meta }
  },
}
