import { DataError } from '../errors.js'
import { letterAt } from '../record.js'
import type { Loader } from './types.js'
import { asObject, hasKeys, nonEmpty, num, optStr, str } from './fields.js'

const OPTION_FIELDS = ['opa', 'opb', 'opc', 'opd'] as const

/** The original MedMCQA JSONL: id, question, opa..opd, cop (the right option, counted from 1), exp, subject_name, topic_name. */
export const medmcqaLoader: Loader = {
  name: 'medmcqa',
  description: 'JSONL: id, question, opa, opb, opc, opd, cop (1-based), choice_type, exp, subject_name, topic_name',
  kinds: ['jsonl', 'json'],
  defaultSource: 'medmcqa',
  detect: (first) => hasKeys(first, 'question', 'opa', 'opb', 'cop'),
  convert(value, loc, ctx) {
    const o = asObject(value, loc)
    const options: Record<string, string> = {}
    OPTION_FIELDS.forEach((f, i) => {
      options[letterAt(i)] = str(o, f, loc).trim()
    })
    const base = ctx.opts.copBase ?? 1
    const cop = num(o, 'cop', loc)
    if (!Number.isInteger(cop) || cop < base || cop > base + 3) {
      const hint = base === 1 && cop === 0 ? ' (0 suggests a 0-based export: pass copBase 0 / --cop-base 0)' : ''
      throw new DataError(loc, 'cop', `expected the right option's number ${base}–${base + 3}, got ${cop}${hint}`)
    }
    const meta: Record<string, unknown> = {}
    const subject = optStr(o, 'subject_name', loc)
    const topic = optStr(o, 'topic_name', loc)
    const choiceType = optStr(o, 'choice_type', loc)
    const exp = optStr(o, 'exp', loc)
    if (subject !== undefined) meta.subject = subject
    if (topic !== undefined) meta.topic = topic
    if (choiceType !== undefined) meta.choice_type = choiceType
    if (exp !== undefined) meta.explanation = exp
    return { id: nonEmpty(str(o, 'id', loc), 'id', loc), question: nonEmpty(str(o, 'question', loc), 'question', loc).trim(), options, answer: letterAt(cop - base), meta }
  },
}
