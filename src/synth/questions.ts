import type { QARecord } from '../data/record.js'
import { optionsFromList } from '../data/record.js'
import { Rng } from '../util/rng.js'
import { list, type Disease, type World } from './world.js'

const AGES = [23, 31, 38, 45, 52, 58, 64, 71]
const EXTRAS = ['She works as a teacher.', 'He has a cat at home.', 'She drinks coffee every morning.', 'He recently moved to a new city.', 'Her brother has asthma.', 'He walks to work.']

/** Distractor treatments: first those of diseases sharing findings (the confusable ones), then others. */
function distractors(w: World, d: Disease, rng: Rng, n: number): string[] {
  const shared = w.diseases.filter((x) => x !== d && x.findings.some((f) => d.findings.includes(f)))
  const rest = w.diseases.filter((x) => x !== d && !shared.includes(x))
  return [...rng.shuffle(shared), ...rng.shuffle(rest)].slice(0, n).map((x) => x.treatment)
}

function record(id: string, source: string, split: string, question: string, d: Disease, w: World, rng: Rng, kind: string): QARecord {
  const opts = rng.shuffle([d.treatment, ...distractors(w, d, rng, 3)])
  const letter = 'ABCD'[opts.indexOf(d.treatment)] as QARecord['answer']
  // Only a two-hop question has an intermediate fact to name (a recall question names its disease itself).
  const meta = kind === 'two-hop' ? { disease: d.name, kind, intermediate: d.name } : { disease: d.name, kind }
  return { id, source, split, question, options: optionsFromList(opts), answer: letter, meta }
}

export interface Testbed {
  train: QARecord[]
  test: QARecord[]
}

/**
 * Questions at controlled difficulty. One-hop recall ("first-line treatment of X?") for every disease;
 * two-hop vignettes (findings → disease → treatment), long and informative or short and bare. The two-hop
 * questions of a third of the diseases are held out: train and test never share a question, and the test's
 * diseases never appear in a training vignette.
 */
export function makeQuestions(w: World, seed: number, perDisease = 6): Testbed {
  const rng = new Rng(seed)
  const heldOut = new Set(rng.shuffle(w.diseases.map((d) => d.name)).slice(0, Math.floor(w.diseases.length / 3)))
  const train: QARecord[] = []
  const test: QARecord[] = []
  let n = 0
  for (const d of w.diseases) {
    for (let k = 0; k < 2; k++) train.push(record(`synth-${n++}`, 'synth-recall', 'train', `What is the first-line treatment of ${d.name}?`, d, w, rng, 'one-hop'))
    for (let k = 0; k < perDisease; k++) {
      const f = rng.shuffle(d.findings)
      const long = k % 2 === 0
      const q = long
        ? `A ${AGES[rng.int(AGES.length)]}-year-old patient comes to the clinic with ${list(f)} for ${2 + rng.int(12)} days. ${EXTRAS[rng.int(EXTRAS.length)]} What is the most appropriate first-line treatment?`
        : `${list(f)}. First-line treatment?`
      const source = long ? 'synth-vignette' : 'synth-short'
      const held = heldOut.has(d.name)
      const r = record(`synth-${n++}`, source, held ? 'test' : 'train', q.charAt(0).toUpperCase() + q.slice(1), d, w, rng, 'two-hop')
      ;(held ? test : train).push(r)
    }
  }
  return { train, test }
}

/**
 * Derives a question's answer from the world alone, reading the question text: the disease named, or the
 * one whose three findings all appear; then its first-line drug, then that drug's letter.
 */
export function deriveAnswer(w: World, r: QARecord): string | null {
  const text = r.question.toLowerCase()
  const named = w.diseases.filter((d) => text.includes(d.name.toLowerCase()))
  const byFindings = w.diseases.filter((d) => d.findings.every((f) => text.includes(f)))
  const candidates = named.length > 0 ? named : byFindings
  if (candidates.length !== 1) return null
  const drug = candidates[0]!.treatment
  const hit = Object.entries(r.options).find(([, t]) => t === drug)
  return hit ? hit[0] : null
}
