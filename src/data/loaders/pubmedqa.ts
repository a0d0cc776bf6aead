import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { DataError, type Location } from '../errors.js'
import { parseOptionLines } from '../option-text.js'
import { optionsFromList } from '../record.js'
import type { Draft, Loader, LoaderContext } from './types.js'
import { arr, asObject, hasKeys, nonEmpty, obj, optStr, str, answerLetter } from './fields.js'

/** PubMedQA's three answers become options A/B/C in this order, as every published MCQA version does. */
export const PUBMEDQA_OPTIONS = ['yes', 'no', 'maybe'] as const
const DECISION_LETTER: Record<string, string> = { yes: 'A', no: 'B', maybe: 'C' }

function decisionLetter(v: unknown, field: string, loc: Location): string {
  if (typeof v !== 'string' || !(v.trim().toLowerCase() in DECISION_LETTER)) {
    throw new DataError(loc, field, `expected yes, no or maybe, got ${JSON.stringify(v)}`)
  }
  return DECISION_LETTER[v.trim().toLowerCase()]!
}

/** One PQA-L entry (keyed by PMID) as a record; the abstract's sections become `context`. */
function pqalDraft(pmid: string, v: unknown, loc: Location, split: string | undefined): Draft {
  const o = asObject(v, loc)
  const contexts = arr(o, 'CONTEXTS', loc).map((c, i) => {
    if (typeof c !== 'string') throw new DataError(loc, `CONTEXTS[${i}]`, 'expected a string')
    return c
  })
  const labels = Array.isArray(o.LABELS) ? o.LABELS : []
  const context = contexts.map((c, i) => (typeof labels[i] === 'string' && labels[i] !== '' ? `${labels[i]}: ${c}` : c)).join('\n')
  const meta: Record<string, unknown> = { pmid }
  const year = optStr(o, 'YEAR', loc)
  if (year !== undefined) meta.year = year
  if (Array.isArray(o.MESHES)) meta.meshes = o.MESHES
  const long = optStr(o, 'LONG_ANSWER', loc)
  if (long !== undefined) meta.long_answer = long
  const d: Draft = {
    id: pmid,
    question: nonEmpty(str(o, 'QUESTION', loc), 'QUESTION', loc).trim(),
    context,
    options: optionsFromList(PUBMEDQA_OPTIONS) as Record<string, string>,
    answer: decisionLetter(o.final_decision, 'final_decision', loc),
    meta,
  }
  if (split !== undefined) d.split = split
  return d
}

function readKeyedJson(path: string, what: string): Record<string, unknown> {
  let v: unknown
  try {
    v = JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    throw new DataError({ file: path }, '(file)', `cannot read the ${what}: ${(e as Error).message}`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DataError({ file: path }, '(json)', `the ${what} must be an object keyed by PMID`)
  return v as Record<string, unknown>
}

interface PqalState {
  testLabels?: Record<string, unknown>
}
const pqalState = new WeakMap<LoaderContext, PqalState>()

/**
 * PubMedQA PQA-L (`ori_pqal.json`): an object keyed by PMID. The official test split is the 500 PMIDs of
 * `test_ground_truth.json` (found beside the file, or named with pubmedqaSplitFile); the rest are train.
 */
export const pubmedqaPqalLoader: Loader = {
  name: 'pubmedqa-pqal',
  description: 'JSON object PMID → {QUESTION, CONTEXTS, LABELS, MESHES, YEAR, final_decision, LONG_ANSWER} (PubMedQA PQA-L)',
  kinds: ['json'],
  defaultSource: 'pubmedqa',
  detect: (first, file) => file.keyed && hasKeys(first, 'QUESTION', 'final_decision'),
  prepare(ctx) {
    const state: PqalState = {}
    pqalState.set(ctx, state)
    if (ctx.opts.split !== undefined) return
    const splitFile = ctx.opts.pubmedqaSplitFile ?? join(dirname(ctx.file.path), 'test_ground_truth.json')
    if (existsSync(splitFile)) {
      state.testLabels = readKeyedJson(splitFile, 'PubMedQA test split')
      ctx.notes.push(`split: test = the ${Object.keys(state.testLabels).length} PMIDs of ${splitFile}, train = the rest`)
    } else {
      ctx.notes.push(`split: no test split file (${splitFile}); every record gets split "${ctx.split}"`)
    }
  },
  convert(value, loc, ctx) {
    const pmid = loc.key ?? ''
    const labels = pqalState.get(ctx)?.testLabels
    const split = labels === undefined ? undefined : pmid in labels ? 'test' : 'train'
    const d = pqalDraft(pmid, value, { ...loc, id: pmid }, split)
    if (labels !== undefined && pmid in labels && decisionLetter(labels[pmid], pmid, loc) !== d.answer) {
      throw new DataError(loc, 'final_decision', `disagrees with the test split file's label ${JSON.stringify(labels[pmid])}`)
    }
    return d
  },
}

const splitState = new WeakMap<LoaderContext, Record<string, unknown>>()

/**
 * PubMedQA's official test split file (`test_ground_truth.json`, PMID → yes/no/maybe). It holds labels only,
 * so the questions come from `ori_pqal.json` beside it; imported alone it yields the 500 test records.
 */
export const pubmedqaTestSplitLoader: Loader = {
  name: 'pubmedqa-test-split',
  description: 'JSON object PMID → "yes"|"no"|"maybe" (PubMedQA test_ground_truth.json; questions read from ori_pqal.json beside it)',
  kinds: ['json'],
  defaultSource: 'pubmedqa',
  detect: (first, file) => file.keyed && typeof first === 'string' && first.trim().toLowerCase() in DECISION_LETTER,
  prepare(ctx) {
    const pqal = join(dirname(ctx.file.path), 'ori_pqal.json')
    if (!existsSync(pqal)) {
      throw new DataError({ file: ctx.file.path }, '(file)', `this is PubMedQA's label file; its questions are in ori_pqal.json, which is not beside it (${pqal})`)
    }
    splitState.set(ctx, readKeyedJson(pqal, 'PubMedQA PQA-L file'))
    ctx.notes.push(`questions from ${pqal}`)
  },
  convert(value, loc, ctx) {
    const pmid = loc.key ?? ''
    const entry = splitState.get(ctx)?.[pmid]
    if (entry === undefined) throw new DataError(loc, pmid, 'this PMID is not in ori_pqal.json')
    const d = pqalDraft(pmid, entry, { ...loc, id: pmid }, 'test')
    if (decisionLetter(value, pmid, loc) !== d.answer) throw new DataError(loc, pmid, `label ${JSON.stringify(value)} disagrees with ori_pqal.json's final_decision`)
    return d
  },
}

/** PubMedQA in the MedSSS chat layout: options "A. yes / B. no / C. maybe" inside the human turn; eval.answer the letter. */
export const pubmedqaChatLoader: Loader = {
  name: 'pubmedqa-chat',
  description: 'JSON array: id, conversations [{from, value}] with "A. … B. …" option lines, eval {answer, answer_text, long_answer}',
  kinds: ['json', 'jsonl'],
  detect: (first) => hasKeys(first, 'conversations', 'eval'),
  convert(value, loc) {
    const o = asObject(value, loc)
    const turns = arr(o, 'conversations', loc)
    const human = turns.map((t, i) => asObject(t, loc, `conversations[${i}]`)).find((t) => t.from === 'human' || t.from === 'user')
    if (human === undefined) throw new DataError(loc, 'conversations', 'no human turn')
    const text = str(human, 'value', loc)
    const parsed = parseOptionLines(text)
    if (!parsed.ok) throw new DataError(loc, 'conversations[0].value', parsed.reason)
    const ev = obj(o, 'eval', loc)
    const meta: Record<string, unknown> = {}
    const long = optStr(ev, 'long_answer', loc)
    if (long !== undefined) meta.long_answer = long
    const stem = parsed.value.stem.replace(/^Question:\s*/, '')
    return { id: nonEmpty(str(o, 'id', loc), 'id', loc), question: stem, options: optionsFromList(parsed.value.options) as Record<string, string>, answer: answerLetter(ev.answer, 'eval.answer', loc), meta }
  },
}
