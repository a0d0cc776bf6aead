/**
 * Logits processors: small steps that turn a row of logits into the distribution a token is drawn from,
 * applied in a fixed order (transformers' order): repetition penalty, temperature, top-k, top-p, min-p.
 * Each is on only for settings that change something. Truncating steps keep a candidate list in
 * decreasing order, built lazily from a heap so a step pops only as many tokens as it keeps.
 */

/** The sampling settings of one row: what the processors below read. */
export interface SamplingParams {
  /** 0 means greedy. */
  temperature: number
  /** 1 keeps everything. */
  topP: number
  /** 0 keeps everything. */
  topK: number
  /** 0 keeps everything; else drop tokens below minP × the top probability. */
  minP: number
  /** 1 means none; >1 discourages tokens already in the prompt or completion (transformers' rule). */
  repetitionPenalty: number
}

export const DEFAULT_SAMPLING: SamplingParams = { temperature: 1, topP: 1, topK: 0, minP: 0, repetitionPenalty: 1 }

/** Max-heap of token indices ordered by value (ties: lower id first), built in O(V). */
class IndexHeap {
  private readonly idx: Int32Array
  private n: number
  constructor(private readonly val: Float64Array) {
    this.n = val.length
    this.idx = new Int32Array(this.n)
    for (let i = 0; i < this.n; i++) this.idx[i] = i
    for (let i = (this.n >> 1) - 1; i >= 0; i--) this.down(i)
  }
  private less(a: number, b: number): boolean {
    const va = this.val[this.idx[a]!]!
    const vb = this.val[this.idx[b]!]!
    return va < vb || (va === vb && this.idx[a]! > this.idx[b]!)
  }
  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < this.n && this.less(m, l)) m = l
      if (r < this.n && this.less(m, r)) m = r
      if (m === i) return
      const t = this.idx[i]!
      this.idx[i] = this.idx[m]!
      this.idx[m] = t
      i = m
    }
  }
  get size(): number {
    return this.n
  }
  peek(): number {
    return this.idx[0]!
  }
  pop(): number {
    const top = this.idx[0]!
    this.n--
    this.idx[0] = this.idx[this.n]!
    this.down(0)
    return top
  }
}

/** One row being processed: its logits over the vocabulary, and the surviving candidates once a step truncates. */
export class LogitsRow {
  /** Processed logits, one per vocabulary entry (penalised, scaled in place). */
  readonly logits: Float64Array
  /** Surviving token ids in decreasing logit order; null while every token survives. */
  kept: number[] | null = null
  private heap: IndexHeap | null = null

  constructor(logits: Float64Array) {
    this.logits = logits
  }

  /** The surviving candidates in decreasing order, popped while `keep(id, rank)` holds (a prefix of the order). */
  takeWhile(keep: (id: number, rank: number) => boolean): void {
    // The first candidate always survives (a distribution needs one token), but `keep` still sees it.
    if (this.kept) {
      let n = 0
      while (n < this.kept.length && (keep(this.kept[n]!, n) || n === 0)) n++
      this.kept = this.kept.slice(0, n)
      return
    }
    this.heap ??= new IndexHeap(this.logits)
    const out: number[] = []
    while (this.heap.size > 0 && (keep(this.heap.peek(), out.length) || out.length === 0)) out.push(this.heap.pop())
    this.kept = out
  }

  /** log Σ exp over the survivors and their largest logit. */
  logNormaliser(): { max: number; logZ: number } {
    const ids = this.kept
    let m = -Infinity
    const n = ids ? ids.length : this.logits.length
    for (let k = 0; k < n; k++) m = Math.max(m, this.logits[ids ? ids[k]! : k]!)
    let z = 0
    for (let k = 0; k < n; k++) z += Math.exp(this.logits[ids ? ids[k]! : k]! - m)
    return { max: m, logZ: m + Math.log(z) }
  }
}

export interface LogitsProcessor {
  name: string
  /** On for these settings (off when it would change nothing). */
  active(p: SamplingParams, vocab: number): boolean
  apply(row: LogitsRow, p: SamplingParams, seen: readonly number[]): void
}

/** transformers' RepetitionPenaltyLogitsProcessor: seen tokens' positive logits divided by the penalty, negative ones multiplied. */
const repetitionPenalty: LogitsProcessor = {
  name: 'repetition_penalty',
  active: (p) => p.repetitionPenalty !== 1,
  apply(row, p, seen) {
    for (const id of new Set(seen)) {
      const x = row.logits[id]!
      row.logits[id] = x > 0 ? x / p.repetitionPenalty : x * p.repetitionPenalty
    }
  },
}

const temperature: LogitsProcessor = {
  name: 'temperature',
  active: (p) => p.temperature > 0 && p.temperature !== 1,
  apply(row, p) {
    for (let i = 0; i < row.logits.length; i++) row.logits[i] = row.logits[i]! / p.temperature
  },
}

const topK: LogitsProcessor = {
  name: 'top_k',
  active: (p, v) => p.topK > 0 && p.topK < v,
  apply(row, p) {
    row.takeWhile((_, rank) => rank < p.topK)
  },
}

/** The smallest prefix whose probability (among the survivors) reaches top_p; the token that crosses it is kept. */
const topP: LogitsProcessor = {
  name: 'top_p',
  active: (p) => p.topP < 1,
  apply(row, p) {
    const { logZ } = row.logNormaliser()
    let cum = 0
    row.takeWhile((id) => {
      if (cum >= p.topP) return false
      cum += Math.exp(row.logits[id]! - logZ)
      return true
    })
  },
}

/** Tokens below min_p × the top probability are dropped (a logit threshold: max + log min_p). */
const minP: LogitsProcessor = {
  name: 'min_p',
  active: (p) => p.minP > 0,
  apply(row, p) {
    const threshold = row.logNormaliser().max + Math.log(p.minP)
    row.takeWhile((id) => row.logits[id]! >= threshold)
  },
}

/** The processors in the order they run. */
export const LOGITS_PROCESSORS: LogitsProcessor[] = [repetitionPenalty, temperature, topK, topP, minP]

/** Adds a processor after the named one (or at the end): the order stays fixed and visible in one list. */
export function registerLogitsProcessor(p: LogitsProcessor, after?: string): void {
  if (LOGITS_PROCESSORS.some((x) => x.name === p.name)) throw new Error(`logits processor ${p.name} is already registered`)
  const i = after === undefined ? LOGITS_PROCESSORS.length : LOGITS_PROCESSORS.findIndex((x) => x.name === after) + 1
  if (i === 0) throw new Error(`no logits processor named ${after}`)
  LOGITS_PROCESSORS.splice(i, 0, p)
}

/** The processors these settings turn on, in order. */
export function activeProcessors(p: SamplingParams, vocab: number): LogitsProcessor[] {
  return LOGITS_PROCESSORS.filter((x) => x.active(p, vocab))
}
