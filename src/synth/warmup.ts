import { DataError } from '../data/errors.js'
import { readJsonlRows } from '../data/files.js'
import type { Letter, QARecord } from '../data/record.js'
import { optionsFromList, validateRecord } from '../data/record.js'
import { Rng } from '../util/rng.js'
import { MECHANISMS, ORGANS, type World } from './world.js'

// Name parts of the atlas: other syllables and endings than the clinical world's, so that no warm-up
// word is a disease or a drug, but the words are built the same way (compounds of syllables).
const SYLLABLES = ['ar', 'bo', 'cal', 'den', 'ely', 'fro', 'gan', 'hol', 'ist', 'jor', 'kel', 'lor', 'mab', 'nor', 'ost', 'pra', 'ril', 'sto', 'tur', 'ud', 'wen', 'yor']
const TOWN_ENDS = ['ton', 'ford', 'wick', 'by', 'ham', 'stead']
const THING_ENDS = ['ite', 'ow', 'en', 'ara', 'ust', 'elm']

interface Relation {
  /** The fact as the question's context states it, and as the reasoning restates it. */
  fact(town: string, value: string): string
  ask(town: string): string
}

const RELATIONS: Relation[] = [
  { fact: (t, v) => `${t} lies on the river ${v}.`, ask: (t) => `Which river does ${t} lie on?` },
  { fact: (t, v) => `The main export of ${t} is ${v}.`, ask: (t) => `What is the main export of ${t}?` },
  { fact: (t, v) => `${t} was founded by ${v}.`, ask: (t) => `Who founded ${t}?` },
  { fact: (t, v) => `The old name of ${t} is ${v}.`, ask: (t) => `What is the old name of ${t}?` },
]

const word = (rng: Rng, ends: readonly string[]): string => {
  const n = 1 + rng.int(2)
  let w = ''
  for (let i = 0; i < n; i++) w += SYLLABLES[rng.int(SYLLABLES.length)]!
  return w + ends[rng.int(ends.length)]!
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

/**
 * An unrelated reading task for the base model's format warm-up: a fictional atlas passage states one fact
 * about each of two towns, and the question asks about one of them, with four compound-word options. It
 * teaches what a pretrained model brings to multiple-choice questions (find the option a statement names,
 * answer with its letter, in the template's format) and nothing about medicine: the clinical corpus holds
 * no questions, and no warm-up example chains two facts.
 */
export function atlasTask(size: number, seed: number): WarmupRecord[] {
  const rng = new Rng(seed)
  // Small inventories of names, so that the names themselves are quickly learnt and the skill is the point.
  const townNames = [...new Set(Array.from({ length: 60 }, () => capitalize(word(rng, TOWN_ENDS))))].slice(0, 40)
  const valueNames = [...new Set(Array.from({ length: 90 }, () => word(rng, THING_ENDS)))].slice(0, 60)
  return Array.from({ length: size }, (_, i) => {
    const rel = RELATIONS[rng.int(RELATIONS.length)]!
    const towns = rng.shuffle(townNames).slice(0, 2)
    const values = new Set<string>()
    while (values.size < 4) values.add(valueNames[rng.int(valueNames.length)]!)
    const [v0, v1] = [...values] as [string, string]
    const asked = rng.int(2)
    const opts = rng.shuffle([...values])
    const value = asked === 0 ? v0 : v1
    return {
      id: `atlas-${i}`,
      source: 'atlas',
      split: 'train',
      question: `${rel.fact(towns[0]!, v0)} ${rel.fact(towns[1]!, v1)} ${rel.ask(towns[asked]!)}`,
      options: optionsFromList(opts),
      answer: 'ABCD'[opts.indexOf(value)] as Letter,
      meta: { fact: rel.fact(towns[asked]!, value) },
    }
  })
}

export type WarmupRecord = QARecord & { meta: { fact: string } }

/**
 * Side questions about the clinical world that no test question asks: which organ a disease affects, and
 * what kind of disorder it is. They show the answer format on clinical text, as the medical Q&A a
 * pretrained model has read would; none asks about findings or treatments, and none chains two facts.
 */
export function sideQuestions(w: World, size: number, seed: number): WarmupRecord[] {
  const rng = new Rng(seed)
  return Array.from({ length: size }, (_, i) => {
    const d = w.diseases[rng.int(w.diseases.length)]!
    const organ = rng.int(2) === 0
    const right = organ ? d.organ : d.mechanism
    const pool = (organ ? ORGANS : MECHANISMS).filter((x) => x !== right)
    const opts = rng.shuffle([right, ...rng.shuffle(pool).slice(0, 3)])
    return {
      id: `side-${i}`,
      source: 'side',
      split: 'train',
      question: organ ? `Which organ does ${d.name} affect?` : `What kind of disorder is ${d.name}?`,
      options: optionsFromList(opts),
      answer: 'ABCD'[opts.indexOf(right)] as Letter,
      meta: { fact: organ ? `${d.name} affects the ${d.organ}.` : `${d.name} is a ${d.mechanism} disorder.` },
    }
  })
}

/** Warm-up questions of the demo's world (three to a pretraining text). */
export const WARMUP_QUESTIONS = 9000

/** The warm-up questions `medrl synth` writes: atlas reading questions and clinical side questions, interleaved. */
export function warmupQuestions(w: World, size: number, seed: number): WarmupRecord[] {
  const a = atlasTask(Math.ceil(size / 2), seed + 1)
  const b = sideQuestions(w, Math.floor(size / 2), seed + 2)
  return new Rng(seed + 3).shuffle([...a, ...b])
}

/** Reads warm-up questions (medrl records whose `meta.fact` states the answer); errors name the line and field. */
export function readWarmup(path: string): WarmupRecord[] {
  return readJsonlRows(path).map((row) => {
    if (row.error) throw row.error
    const r = validateRecord(row.value, row.loc)
    if (typeof r.meta.fact !== 'string' || r.meta.fact.trim() === '') throw new DataError({ ...row.loc, id: r.id }, 'meta.fact', 'missing: a warm-up question needs the statement its answer rests on')
    return r as WarmupRecord
  })
}
