import { hashString53 } from '../util/rng.js'
import { normalizeText, words } from './normalize.js'
import type { QARecord } from './record.js'

export interface DecontaminationOptions {
  /** Word n-gram length for the overlap test (13, as in GPT-3's contamination study). */
  ngram?: number
  /** Share of a train question's n-grams found in the eval set that flags it (default: any one). */
  minOverlap?: number
}

export interface ContaminationHit {
  trainId: string
  /** The eval question it overlaps most. */
  evalId: string
  kind: 'exact' | 'ngram'
  /** Share of the train question's n-grams that occur in the eval set (1 for exact matches). */
  overlap: number
}

export interface DecontaminationResult {
  hits: ContaminationHit[]
  clean: QARecord[]
  ngram: number
  minOverlap: number
}

/** The text compared: context and stem (options are short and shared between unrelated questions). */
function textOf(r: QARecord): string {
  return r.context !== undefined ? `${r.context} ${r.question}` : r.question
}

function ngramHashes(ws: readonly string[], n: number): number[] {
  const out: number[] = []
  for (let i = 0; i + n <= ws.length; i++) out.push(hashString53(ws.slice(i, i + n).join(' ')))
  return out
}

/**
 * Finds train questions that overlap eval questions: the same folded text, or a share of shared word
 * n-grams at or above `minOverlap`. Questions shorter than n words are compared by exact match only.
 */
export function findContamination(train: readonly QARecord[], evals: readonly QARecord[], opts: DecontaminationOptions = {}): DecontaminationResult {
  const n = opts.ngram ?? 13
  const minOverlap = opts.minOverlap ?? 0
  const exact = new Map<string, string>()
  const grams = new Map<number, string>()
  for (const e of evals) {
    const t = textOf(e)
    const key = normalizeText(t)
    if (!exact.has(key)) exact.set(key, e.id)
    for (const h of ngramHashes(words(t), n)) if (!grams.has(h)) grams.set(h, e.id)
  }
  const hits: ContaminationHit[] = []
  const clean: QARecord[] = []
  for (const r of train) {
    const t = textOf(r)
    const same = exact.get(normalizeText(t))
    if (same !== undefined) {
      hits.push({ trainId: r.id, evalId: same, kind: 'exact', overlap: 1 })
      continue
    }
    const hs = ngramHashes(words(t), n)
    if (hs.length > 0) {
      const counts = new Map<string, number>()
      let shared = 0
      for (const h of hs) {
        const id = grams.get(h)
        if (id === undefined) continue
        shared++
        counts.set(id, (counts.get(id) ?? 0) + 1)
      }
      const overlap = shared / hs.length
      if (shared > 0 && overlap >= minOverlap) {
        const evalId = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0]
        hits.push({ trainId: r.id, evalId, kind: 'ngram', overlap })
        continue
      }
    }
    clean.push(r)
  }
  return { hits, clean, ngram: n, minOverlap }
}
