import { Rng, hashString32 } from '../../util/rng.js'
import { letterAt } from '../record.js'
import type { Loader } from './types.js'
import { asObject, hasKeys, nonEmpty, optStr, str } from './fields.js'

const ROLES = ['Correct Answer', 'Incorrect Answer 1', 'Incorrect Answer 2', 'Incorrect Answer 3'] as const

/**
 * The original GPQA CSV. Its right answer is always the first column, so the options are shuffled: each
 * record with its own generator seeded from (seed, Record ID), so a record's order does not depend on which
 * other rows are imported. The permutation is recorded in `meta.permutation` (the source column per letter).
 */
export const gpqaLoader: Loader = {
  name: 'gpqa',
  description: 'CSV: Question, Correct Answer, Incorrect Answer 1..3, Subdomain, High-level domain, Record ID (GPQA); options shuffled with --seed',
  kinds: ['csv'],
  defaultSource: 'gpqa',
  detect: (first) => hasKeys(first, 'Question', 'Correct Answer', 'Incorrect Answer 1'),
  convert(value, loc, ctx) {
    const o = asObject(value, loc)
    const domain = optStr(o, 'High-level domain', loc)
    const wanted = ctx.opts.domains
    if (wanted !== undefined && (domain === undefined || !wanted.some((d) => d.toLowerCase() === domain.toLowerCase()))) {
      return { filtered: `domain ${JSON.stringify(domain)} not in ${wanted.join(',')}` }
    }
    const id = nonEmpty(str(o, 'Record ID', loc), 'Record ID', loc).trim()
    const at = { ...loc, id }
    const texts = ROLES.map((r) => nonEmpty(str(o, r, at), r, at).trim())
    const seed = ctx.opts.seed ?? 0
    const order = new Rng(hashString32(`${seed}:${id}`)).shuffle([0, 1, 2, 3])
    const options: Record<string, string> = {}
    order.forEach((src, i) => {
      options[letterAt(i)] = texts[src]!
    })
    const meta: Record<string, unknown> = { shuffle_seed: seed, permutation: order.map((src) => ROLES[src]) }
    if (domain !== undefined) meta.domain = domain
    const sub = optStr(o, 'Subdomain', loc)
    if (sub !== undefined) meta.subdomain = sub
    return { id, question: nonEmpty(str(o, 'Question', at), 'Question', at).trim(), options, answer: letterAt(order.indexOf(0)), meta }
  },
}
