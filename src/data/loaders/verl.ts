import { DataError, formatLocation } from '../errors.js'
import type { Loader } from './types.js'
import { asObject, hasKeys, nonEmpty, obj, optionsObject, optStr, sameText, str } from './fields.js'

/** The verl prompt field is a plain string in some datasets and a list of chat messages in others. */
function promptText(v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (Array.isArray(v)) {
    return v
      .map((m) => (typeof m === 'object' && m !== null && typeof (m as { content?: unknown }).content === 'string' ? (m as { content: string }).content : ''))
      .join('\n')
  }
  return undefined
}

/**
 * verl's RL data rows (Parquet): data_source, prompt, reward_model {ground_truth, style}, extra_info
 * {index, options {A..}, question}. `ground_truth` may be the right option's letter or its text; the text
 * must match exactly one option.
 */
export const verlLoader: Loader = {
  name: 'verl',
  description: 'Parquet/JSONL rows: data_source, prompt, reward_model {ground_truth, style}, extra_info {index, options, question} (verl)',
  kinds: ['parquet', 'jsonl', 'json'],
  defaultSplit: 'train',
  detect: (first) => hasKeys(first, 'data_source', 'reward_model', 'extra_info'),
  convert(value, loc, ctx) {
    const o = asObject(value, loc)
    const extra = obj(o, 'extra_info', loc)
    const rm = obj(o, 'reward_model', loc)
    const options = optionsObject(extra, 'options', loc)
    const truthRaw = rm.ground_truth
    if (typeof truthRaw !== 'string' || truthRaw.trim() === '') throw new DataError(loc, 'reward_model.ground_truth', 'missing or empty')
    const truth = truthRaw.trim()
    let answer: string
    let equivalent: string[] | undefined
    const letter = optStr(extra, 'answer', loc)
    if (letter !== undefined && letter in options && sameText(options[letter]!, truth)) answer = letter // written by medrl
    else if (/^[A-J]$/.test(truth) && truth in options) answer = truth
    else {
      const hits = Object.entries(options).filter(([, t]) => sameText(t, truth)).map(([l]) => l)
      if (hits.length === 0) throw new DataError(loc, 'reward_model.ground_truth', `${JSON.stringify(truth)} is not the text of any option`)
      // Identical option texts: each names the right answer. The first is `answer`; all are recorded.
      answer = hits[0]!
      if (hits.length > 1) {
        equivalent = hits
        ctx.notes.push(`${formatLocation(loc)}: ground truth matches options ${hits.join(', ')} (identical texts); answer ${answer}, all in meta.equivalent_answers`)
      }
    }
    const index = extra.index
    const dataSource = nonEmpty(str(o, 'data_source', loc), 'data_source', loc)
    let meta: Record<string, unknown> = { verl: { data_source: dataSource, index, style: optStr(rm, 'style', loc) ?? null, prompt: promptText(o.prompt) ?? null } }
    const ownMeta = optStr(extra, 'meta', loc)
    if (ownMeta !== undefined) {
      try {
        meta = asObject(JSON.parse(ownMeta), loc, 'extra_info.meta') // written by medrl: the record's own meta
      } catch (e) {
        throw e instanceof DataError ? e : new DataError(loc, 'extra_info.meta', `not valid JSON: ${(e as Error).message}`)
      }
    }
    if (equivalent !== undefined) meta.equivalent_answers = equivalent
    const ownId = optStr(extra, 'id', loc)
    const id = ownId ?? (typeof index === 'number' || typeof index === 'string' ? `${dataSource}-${index}` : `${dataSource}-${loc.index ?? 0}`)
    const context = optStr(extra, 'context', loc)
    const split = optStr(extra, 'split', loc)
    return { id, source: dataSource, ...(split !== undefined ? { split } : {}), ...(context !== undefined ? { context } : {}), question: nonEmpty(str(extra, 'question', loc), 'extra_info.question', loc).trim(), options, answer, meta }
  },
}
