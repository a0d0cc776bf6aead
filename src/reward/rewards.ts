import type { Letter, QARecord } from '../data/record.js'
import { extractAnswer, isCorrect, type ExtractOptions, type Extraction } from './extract.js'
import { checkR1Format, type R1FormatOptions } from './format.js'
import type { AnswerFormat } from './templates.js'
import { Registry } from '../util/registry.js'

/** What a reward function knows besides the completion and the record. */
export interface RewardContext {
  /** The answer format the prompt asked for (from the template). */
  format: AnswerFormat
  /** Text the prompt pre-filled at the start of the completion (the template's completionPrefix). */
  completionPrefix?: string
  /** Extraction policy; rewards default to strict, as training needs. */
  extract?: ExtractOptions
  r1?: R1FormatOptions
}

export interface RewardResult {
  reward: number
  extracted: Letter | null
  correct: boolean
  /** Whether the completion follows the format the prompt asked for. */
  formatValid: boolean
  details: Record<string, unknown>
}

/**
 * A reward: a pure function of (completion, record) in a context. `checksFormat` says whether its value
 * depends on the answer format (a broken format costs something), which decides what counts as a hack of it.
 */
export type RewardFn = ((completion: string, record: QARecord, ctx: RewardContext) => RewardResult) & { checksFormat?: boolean }

export interface RewardSpec {
  name: string
  description: string
  /** Whether a broken format changes the reward (default false). */
  checksFormat?: boolean
  fn: RewardFn
}

const registry = new Registry<RewardSpec>('a reward', 'reward')

/** Adds a reward under a name, so configs and the CLI can name it (`--reward NAME`). */
export function registerReward(spec: RewardSpec): void {
  registry.register(spec.name, spec)
}

export function getReward(name: string): RewardFn {
  const spec = registry.get(name)
  return Object.assign((c: string, r: QARecord, x: RewardContext) => spec.fn(c, r, x), { checksFormat: spec.checksFormat ?? false })
}

export function rewardNames(): string[] {
  return registry.names()
}

export function listRewards(): RewardSpec[] {
  return registry.values()
}

/** Whether a completion follows the answer format: R1 tags, a \boxed{}, or (direct) a letter the strict reader finds. */
export function formatValid(completion: string, ctx: RewardContext, extraction: Extraction): { valid: boolean; reason?: string } {
  if (ctx.format === 'r1') {
    const f = checkR1Format(completion, { ...ctx.r1, prefix: ctx.completionPrefix ?? ctx.r1?.prefix ?? '' })
    return f.valid ? { valid: true } : { valid: false, reason: f.reason }
  }
  return extraction.method === 'none' ? { valid: false, reason: 'no_answer_statement' } : { valid: true }
}

function strictExtraction(completion: string, record: Pick<QARecord, 'options'>, ctx: RewardContext): Extraction {
  return extractAnswer((ctx.completionPrefix ?? '') + completion, record, { mode: 'strict', format: ctx.format, ...ctx.extract })
}

/** Extraction, correctness and format in one go: the shared core of the built-in rewards. */
export function judge(completion: string, record: QARecord, ctx: RewardContext): Omit<RewardResult, 'reward'> {
  const e = strictExtraction(completion, record, ctx)
  const f = formatValid(completion, ctx, e)
  const details: Record<string, unknown> = { method: e.method }
  if (e.reason !== undefined) details.extract_reason = e.reason
  if (f.reason !== undefined) details.format_reason = f.reason
  return { extracted: e.letter, correct: isCorrect(e.letter, record), formatValid: f.valid, details }
}

registerReward({
  name: 'binary',
  description: 'AlphaMed: 1 if the extracted answer is right, else 0',
  checksFormat: false,
  fn: (completion, record, ctx) => {
    const j = judge(completion, record, ctx)
    return { ...j, reward: j.correct ? 1 : 0 }
  },
})

registerReward({
  name: 'format_correct',
  description: 'Med-RLVR: -1 for a broken format, 0 for a wrong answer, 1 for the right one',
  checksFormat: true,
  fn: (completion, record, ctx) => {
    const j = judge(completion, record, ctx)
    return { ...j, reward: !j.formatValid ? -1 : j.correct ? 1 : 0 }
  },
})

registerReward({
  name: 'format',
  description: '1 if the completion follows the format, else 0 (a shaping term for weighted sums)',
  checksFormat: true,
  fn: (completion, record, ctx) => {
    const j = judge(completion, record, ctx)
    return { ...j, reward: j.formatValid ? 1 : 0 }
  },
})

/** A weighted sum of registered rewards, e.g. [{name: 'binary', weight: 1}, {name: 'format', weight: 0.1}]. */
export function weightedReward(terms: readonly { name: string; weight: number }[]): RewardFn {
  if (terms.length === 0) throw new Error('a weighted reward needs at least one term')
  const fns = terms.map((t) => ({ ...t, fn: getReward(t.name) }))
  const sum: RewardFn = (completion, record, ctx) => {
    let reward = 0
    const parts: Record<string, number> = {}
    let first: RewardResult | undefined
    for (const t of fns) {
      const r = t.fn(completion, record, ctx)
      first ??= r
      parts[t.name] = r.reward
      reward += t.weight * r.reward
    }
    return { ...first!, reward, details: { ...first!.details, terms: parts } }
  }
  return Object.assign(sum, { checksFormat: fns.some((t) => t.weight !== 0 && t.fn.checksFormat === true) })
}

/** A reward by name, or a weighted sum written "binary:1,format:0.1". */
export function resolveReward(spec: string): RewardFn {
  if (!spec.includes(':') && !spec.includes(',')) return getReward(spec)
  return weightedReward(
    spec.split(',').map((part) => {
      const [name, w] = part.split(':')
      const weight = w === undefined ? 1 : Number(w)
      if (!name || !Number.isFinite(weight)) throw new Error(`bad reward term "${part}": write NAME or NAME:WEIGHT`)
      return { name: name.trim(), weight }
    }),
  )
}
