import type { QARecord } from '../data/record.js'
import { optionsFromList } from '../data/record.js'
import { Rng, hashString32 } from '../util/rng.js'
import { list, type Disease, type World } from './world.js'

const AGES = [23, 31, 38, 45, 52, 58, 64, 71]
const EXTRAS = ['She works as a teacher.', 'He has a cat at home.', 'She drinks coffee every morning.', 'He recently moved to a new city.', 'Her brother has asthma.', 'He walks to work.']

/** Distractor diseases: first those sharing findings with `d` (the confusable ones), then others. */
function distractors(w: World, d: Disease, rng: Rng, n: number): Disease[] {
  const shared = w.diseases.filter((x) => x !== d && x.findings.some((f) => d.findings.includes(f)))
  const rest = w.diseases.filter((x) => x !== d && !shared.includes(x))
  return [...rng.shuffle(shared), ...rng.shuffle(rest)].slice(0, n)
}

/** The right option and three distractors in a random order, and the letter of the right one. */
function shuffledOptions(right: string, others: string[], rng: Rng): { options: QARecord['options']; answer: QARecord['answer'] } {
  const opts = rng.shuffle([right, ...others])
  return { options: optionsFromList(opts), answer: 'ABCD'[opts.indexOf(right)] as QARecord['answer'] }
}

/** The recall fact, as the corpus states it. */
function treatmentFact(d: Disease): string {
  return `The first-line treatment of ${d.name} is ${d.treatment}.`
}

function record(id: string, source: string, split: string, question: string, d: Disease, w: World, rng: Rng, kind: string): QARecord {
  const { options, answer } = shuffledOptions(d.treatment, distractors(w, d, rng, 3).map((x) => x.treatment), rng)
  // Only a two-hop question has an intermediate fact to name (a recall question names its disease itself).
  const meta = kind === 'two-hop' ? { disease: d.name, kind, intermediate: d.name } : { disease: d.name, kind, rationale: treatmentFact(d) }
  return { id, source, split, question, options, answer, meta }
}

export interface Testbed {
  train: QARecord[]
  test: QARecord[]
  /**
   * One-hop questions answered with their reasoning (`meta.rationale`), for the answer-format warm-up of
   * pretraining: drug recall and diagnosis from findings ("most likely diagnosis?"), for every disease.
   * No warm-up question or reasoning composes the two.
   */
  warmup: QARecord[]
}

/**
 * "Most likely diagnosis?" with four diseases as options, the distractors sharing findings with the answer;
 * the reasoning repeats the findings as the question lists them.
 */
function diagnosis(id: string, question: string, findings: string, d: Disease, w: World, rng: Rng): QARecord {
  const { options, answer } = shuffledOptions(d.name, distractors(w, d, rng, 3).map((x) => x.name), rng)
  const rationale = `A patient with ${findings} most likely has ${d.name}.`
  return { id, source: 'synth-diagnosis', split: 'warmup', question, options, answer, meta: { disease: d.name, kind: 'diagnosis', rationale } }
}

const RECALL_FORMS = [
  (d: string) => `What is the first-line treatment of ${d}?`,
  (d: string) => `Which drug is the first-line treatment for ${d}?`,
  (d: string) => `A patient has ${d}. What is the most appropriate first-line treatment?`,
  (d: string) => `${d}. First-line treatment?`,
]
const DIAGNOSIS_FORMS = [
  (f: string, rng: Rng) => `A ${AGES[rng.int(AGES.length)]}-year-old patient comes to the clinic with ${f} for ${2 + rng.int(12)} days. ${EXTRAS[rng.int(EXTRAS.length)]} What is the most likely diagnosis?`,
  (f: string) => `A patient presents with ${f}. What is the most likely diagnosis?`,
  (f: string) => `${f}. Most likely diagnosis?`,
]

/** Another true statement about a disease, one of `kinds`: what a reasoning may add in passing. */
function asideOf(d: Disease, kinds: readonly ('organ' | 'mechanism' | 'findings' | 'treatment')[], rng: Rng): string {
  const kind = kinds[rng.int(kinds.length)]!
  if (kind === 'organ') return `${d.name} affects the ${d.organ}.`
  if (kind === 'mechanism') return `${d.name} is a ${d.mechanism} disorder.`
  if (kind === 'findings') return `${d.name} presents with ${list(rng.shuffle(d.findings))}.`
  return treatmentFact(d)
}

/**
 * Share of warm-up questions answered tersely ("The answer is X.") instead of with the fact: as a real base
 * model often answers without explaining, the testbed's base has two habits, and RL has to find that on a
 * two-hop question the one that states facts pays.
 */
export const DEFAULT_TERSE_SHARE = 0.6

/**
 * One-hop questions with their reasoning in `meta.rationale`, in varied wordings and option orders, drawn
 * from their own random stream: recall of a first-line drug and diagnosis from findings, for every disease.
 * A reasoning states the fact that answers, half the time with an aside: another true statement about the
 * same disease (its organ, mechanism, findings or drug). A diagnosis may thus mention the drug in passing,
 * but no warm-up question asks for a drug from findings: that composition is what RL has to find.
 * A `terseShare` of them (drawn from a stream of its own, so the questions stay the same) are answered
 * "The answer is X." instead.
 */
export function warmupQuestions(w: World, seed: number, n: number, terseShare = DEFAULT_TERSE_SHARE): QARecord[] {
  const rng = new Rng(hashString32(`${seed}:warmup`))
  // Its own stream, so that the questions do not depend on the terse share.
  const terseRng = new Rng(hashString32(`${seed}:warmup-terse`))
  return Array.from({ length: n }, (_, i) => {
    const d = w.diseases[rng.int(w.diseases.length)]!
    const aside = rng.int(2)
    const r = i % 2 === 0 ? recallWarmup(i, d, w, rng, aside === 0) : diagnosisWarmup(i, d, w, rng, aside === 0)
    return terseRng.next() < terseShare ? { ...r, meta: { ...r.meta, rationale: `The answer is ${r.options[r.answer]}.` } } : r
  })
}

function recallWarmup(i: number, d: Disease, w: World, rng: Rng, withAside: boolean): QARecord {
  const r = record(`synth-warmup-${i}`, 'synth-recall', 'warmup', RECALL_FORMS[rng.int(RECALL_FORMS.length)]!(d.name), d, w, rng, 'one-hop')
  const fact = treatmentFact(d)
  return { ...r, meta: { ...r.meta, rationale: withAside ? `${asideOf(d, ['organ', 'mechanism', 'findings'], rng)} ${fact}` : fact } }
}

function diagnosisWarmup(i: number, d: Disease, w: World, rng: Rng, withAside: boolean): QARecord {
  const f = list(rng.shuffle(d.findings))
  const q = DIAGNOSIS_FORMS[rng.int(DIAGNOSIS_FORMS.length)]!(f, rng)
  const r = diagnosis(`synth-warmup-${i}`, q.charAt(0).toUpperCase() + q.slice(1), f, d, w, rng)
  return withAside ? { ...r, meta: { ...r.meta, rationale: `${String(r.meta.rationale)} ${asideOf(d, ['organ', 'mechanism', 'treatment'], rng)}` } } : r
}

/**
 * Questions at controlled difficulty. One-hop recall ("first-line treatment of X?") for every disease;
 * two-hop vignettes (findings → disease → treatment), long and informative or short and bare. The two-hop
 * questions of a third of the diseases are held out: train and test never share a question, and the test's
 * diseases never appear in a training vignette.
 */
export function makeQuestions(w: World, seed: number, perDisease = 6, warmupSize = 6000, terseShare = DEFAULT_TERSE_SHARE): Testbed {
  const rng = new Rng(seed)
  const heldOut = new Set(rng.shuffle(w.diseases.map((d) => d.name)).slice(0, Math.floor(w.diseases.length / 3)))
  const train: QARecord[] = []
  const test: QARecord[] = []
  let n = 0
  for (const d of w.diseases) {
    for (let k = 0; k < 2; k++) train.push(record(`synth-${n++}`, 'synth-recall', 'train', RECALL_FORMS[0]!(d.name), d, w, rng, 'one-hop'))
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
  return { train, test, warmup: warmupQuestions(w, seed, warmupSize, terseShare) }
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
  if (r.meta.kind === 'diagnosis') return Object.entries(r.options).find(([, t]) => t === candidates[0]!.name)?.[0] ?? null
  const drug = candidates[0]!.treatment
  const hit = Object.entries(r.options).find(([, t]) => t === drug)
  return hit ? hit[0] : null
}

/**
 * Held-out questions for in- and out-of-distribution evaluation (Med-RLVR's comparison), from their own
 * random stream so the testbed's questions are unchanged:
 * - `id`: new two-hop vignettes (one long, one short per disease) about the *training* diseases, in the
 *   training styles, none identical to a training question: unseen questions, seen diseases;
 * - `style`: two-hop questions about the *held-out* diseases in a wording never used in training (a chart
 *   note and a question about the agent to start): unseen diseases and an unseen style.
 */
export function makeShiftQuestions(w: World, t: Testbed, seed: number): { id: QARecord[]; style: QARecord[] } {
  const rng = new Rng(hashString32(`${seed}:shift`))
  const seen = new Set(t.train.map((r) => r.question))
  const trainDiseases = new Set(t.train.filter((r) => r.meta.kind === 'two-hop').map((r) => String(r.meta.disease)))
  const heldOut = new Set(t.test.map((r) => String(r.meta.disease)))
  const id: QARecord[] = []
  const style: QARecord[] = []
  let n = 0
  for (const d of w.diseases) {
    if (trainDiseases.has(d.name)) {
      for (const long of [true, false]) {
        for (let attempt = 0; attempt < 20; attempt++) {
          const f = rng.shuffle(d.findings)
          const q = long
            ? `A ${AGES[rng.int(AGES.length)]}-year-old patient comes to the clinic with ${list(f)} for ${2 + rng.int(12)} days. ${EXTRAS[rng.int(EXTRAS.length)]} What is the most appropriate first-line treatment?`
            : `${list(f)}. First-line treatment?`
          const text = q.charAt(0).toUpperCase() + q.slice(1)
          if (seen.has(text)) continue
          seen.add(text)
          id.push(record(`synth-id-${n++}`, long ? 'synth-vignette' : 'synth-short', 'test-id', text, d, w, rng, 'two-hop'))
          break
        }
      }
    }
    if (heldOut.has(d.name)) {
      for (let k = 0; k < 2; k++) {
        const f = rng.shuffle(d.findings)
        const q = `Chart note: ${list(f)} on examination today. Which agent should be started first?`
        style.push(record(`synth-style-${n++}`, 'synth-style', 'test-style', q, d, w, rng, 'two-hop'))
      }
    }
  }
  return { id, style }
}
