import { DataError } from '../errors.js'
import { parseAnswerChoices } from '../option-text.js'
import type { Loader } from './types.js'
import { answerLetter, arr, asObject, hasKeys, nonEmpty, optionsObject, optStr, sameText, str } from './fields.js'

const META_FIELDS = ['medical_task', 'body_system', 'question_type'] as const

function metaOf(o: Record<string, unknown>, loc: Parameters<typeof optStr>[2]): Record<string, unknown> {
  const meta: Record<string, unknown> = {}
  for (const f of META_FIELDS) {
    const v = optStr(o, f, loc)
    if (v !== undefined) meta[f] = v
  }
  return meta
}

/** MedXpertQA Text: id, question, options {A..J}, label (letter), medical_task, body_system, question_type. */
export const medxpertqaLoader: Loader = {
  name: 'medxpertqa',
  description: 'JSONL: id, question, options {A..J}, label, medical_task, body_system, question_type (MedXpertQA Text)',
  kinds: ['jsonl', 'json'],
  defaultSource: 'medxpert',
  detect: (first) => hasKeys(first, 'question', 'options', 'label') && !Array.isArray(first.options),
  convert(value, loc) {
    const o = asObject(value, loc)
    return {
      id: nonEmpty(str(o, 'id', loc), 'id', loc),
      question: nonEmpty(str(o, 'question', loc), 'question', loc).trim(),
      options: optionsObject(o, 'options', loc),
      answer: answerLetter(o.label, 'label', loc),
      meta: metaOf(o, loc),
    }
  },
}

/**
 * MedXpertQA's official text sample: options as a list of {letter, content} (repeated inside the question
 * after "Answer Choices:"), label a one-letter list. The two copies of the options must agree.
 */
export const medxpertqaSampledLoader: Loader = {
  name: 'medxpertqa-sampled',
  description: 'JSONL: id, question (with "Answer Choices:"), options [{letter, content}], label ["J"] (MedXpertQA sampled)',
  kinds: ['jsonl', 'json'],
  defaultSource: 'medxpert',
  detect: (first) => hasKeys(first, 'question', 'options', 'label') && Array.isArray(first.options),
  convert(value, loc) {
    const o = asObject(value, loc)
    const id = nonEmpty(str(o, 'id', loc), 'id', loc)
    const at = { ...loc, id }
    const options: Record<string, string> = {}
    arr(o, 'options', at).forEach((item, i) => {
      const it = asObject(item, at, `options[${i}]`)
      const letter = str(it, 'letter', at).trim().toUpperCase()
      if (letter in options) throw new DataError(at, `options[${i}].letter`, `duplicate option letter ${letter}`)
      options[letter] = nonEmpty(str(it, 'content', at), `options[${i}].content`, at).trim()
    })
    let question = nonEmpty(str(o, 'question', at), 'question', at).trim()
    if (question.includes('Answer Choices:')) {
      const parsed = parseAnswerChoices(question)
      if (!parsed.ok) throw new DataError(at, 'question', parsed.reason)
      const listed = Object.values(options)
      const agree = parsed.value.options.length === listed.length && parsed.value.options.every((t, i) => sameText(t, listed[i]!))
      if (!agree) throw new DataError(at, 'options', 'the options list disagrees with the "Answer Choices:" in the question text')
      question = parsed.value.stem
    }
    return { id, question, options, answer: answerLetter(o.label, 'label', at), meta: metaOf(o, at) }
  },
}
