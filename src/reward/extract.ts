import { isLetter, optionEntries, type Letter, type QARecord } from '../data/record.js'
import type { AnswerFormat } from './templates.js'
import { normalizeText } from '../data/normalize.js'

/**
 * Answer extraction: from any model output, the option letter it chose, or null with a reason.
 *
 * Every step is linear in the output's length: tags and braces are found with indexOf and single forward
 * scans; the few regular expressions run on text whose white space is collapsed first and have no nested
 * or adjacent unbounded quantifiers, so they cannot backtrack catastrophically.
 */

export type ExtractMode = 'strict' | 'lenient'

export interface ExtractOptions {
  /**
   * strict: only the answer statement the format asks for (`<answer>` for r1, `\boxed{}` for boxed, a
   * leading letter for direct). Training rewards use strict. lenient (default): that statement first, then
   * `\boxed{}`, "the answer is …" statements, a final "B. …" line, a bare letter or option text.
   */
  mode?: ExtractMode
  /** The format the prompt asked for (default r1). */
  format?: AnswerFormat
  /** Which of several final-answer statements wins: the last (default; models revise) or the first. */
  mention?: 'last' | 'first'
  /** Accept an option's text without its letter (default true). */
  matchOptionText?: boolean
}

export type ExtractMethod = 'answer_tag' | 'boxed' | 'statement' | 'letter_line' | 'bare' | 'none'
export type NoneReason = 'no_answer' | 'ambiguous' | 'not_an_option' | 'unmatched_text' | 'empty_answer' | 'unclosed_tag'

export interface Extraction {
  letter: Letter | null
  method: ExtractMethod
  /** Why no letter was taken (only when letter is null). */
  reason?: NoneReason
  /** The letters named when the answer was ambiguous. */
  candidates?: Letter[]
}

type Options = Pick<QARecord, 'options'>

/** The record's options, folded once per extraction (statements compare against them many times). */
class OptionIndex {
  readonly options: QARecord['options']
  /** How much of a statement can matter: the longest option text plus room for a letter and markup. */
  readonly span: number
  private folded: [Letter, string][] | null = null
  constructor(r: Options) {
    this.options = r.options
    let longest = 0
    for (const t of Object.values(r.options)) longest = Math.max(longest, t?.length ?? 0)
    this.span = Math.min(MAX_STATEMENT, longest + 40)
  }
  has(l: Letter): boolean {
    return l in this.options
  }
  entries(): [Letter, string][] {
    this.folded ??= optionEntries({ options: this.options }).map(([l, t]) => [l, normalizeText(t)])
    return this.folded
  }
}

const MAX_STATEMENT = 300

/** Collapses white space, drops markdown emphasis and LaTeX text wrappers, in one linear pass each. */
export function flatten(s: string): string {
  return s
    .replace(/\\(?:text|textbf|mathrm|mathbf|textit|mbox)\{([^{}]{0,300})\}/g, '$1')
    .replace(/[*_`#]+/g, '')
    .replace(/\s+/g, ' ')
    .trim()
}

/** The result of reading one answer statement ("(B)", "B: text", "Cholesterol embolization", "A or C"…). */
type Reading = { letter: Letter } | { none: NoneReason; candidates?: Letter[] } | null

const LEADING = /^(?:option|choice|letter|answer)?\s?[:\-]?\s?/i
const UPPER_LETTER = /^[([{]?([A-J])(?:[)\]}]|(?![A-Za-z0-9]))/
const LOWER_LETTER = /^(?:\(([a-j])\)|([a-j])(?:[.)!:,;]?\s?$|[.):]\s))/
const MORE_LETTERS = /^\s?(?:,|and|or|&|\/|;)\s?(?:option\s?)?[([]?([A-J])(?:[)\]]|(?![A-Za-z0-9]))/

/** Reads the start of a statement: a letter (possibly followed by its text), several letters, or an option's text. */
function readStatement(raw: string, r: OptionIndex, matchText: boolean): Reading {
  const s = flatten(raw.length > r.span ? raw.slice(0, r.span) : raw).replace(/^["'“‘]+ ?/, '')
  if (s === '') return { none: 'empty_answer' }
  const body = s.replace(LEADING, '')
  const m = UPPER_LETTER.exec(body) ?? LOWER_LETTER.exec(body)
  if (m) {
    const letter = (m[1] ?? m[2])!.toUpperCase() as Letter
    // "A patient…" is an article: an upper-case letter followed by text is a letter only if the text is its option's.
    const rest = body.slice(m[0].length)
    const articleLike = letter === 'A' && /^\s[a-z]/.test(rest) && !/^[([]/.test(body) && !MORE_LETTERS.test(rest)
    if (!(articleLike && !(matchText && startsWithOption(rest, r, 'A')))) {
      const more = MORE_LETTERS.exec(rest)
      if (more && !(more[1] === 'A' && /^\s[a-z]/.test(rest.slice(more[0].length)))) {
        const other = more[1] as Letter
        if (other !== letter) return { none: 'ambiguous', candidates: [letter, other] }
      }
      if (!r.has(letter)) return { none: 'not_an_option', candidates: [letter] }
      return { letter }
    }
  }
  if (matchText) {
    const hit = optionByText(s, r)
    if (hit) return { letter: hit }
  }
  return null
}

function startsWithOption(text: string, r: OptionIndex, letter: Letter): boolean {
  const t = r.entries().find(([l]) => l === letter)?.[1]
  return t !== undefined && t !== '' && normalizeText(text).startsWith(t)
}

/** The option whose folded text the statement starts with (the longest, so "Vitamin B12" beats "Vitamin B"). */
function optionByText(statement: string, r: OptionIndex): Letter | null {
  const s = normalizeText(statement)
  if (s === '') return null
  let best: Letter | null = null
  let bestLen = 0
  for (const [l, f] of r.entries()) {
    if (f === '' || f.length <= bestLen) continue
    if (s === f || (s.startsWith(f) && s.charAt(f.length) === ' ')) {
      best = l
      bestLen = f.length
    }
  }
  return best
}

/** All contents of <answer>…</answer>, in order; `unclosed` when the last opening tag has no closing one. */
function answerTags(text: string): { contents: string[]; unclosed: boolean } {
  const lower = text.toLowerCase()
  const contents: string[] = []
  let pos = 0
  for (;;) {
    const open = lower.indexOf('<answer>', pos)
    if (open === -1) return { contents, unclosed: false }
    const close = lower.indexOf('</answer>', open + 8)
    if (close === -1) {
      contents.push(text.slice(open + 8, open + 8 + MAX_STATEMENT))
      return { contents, unclosed: true }
    }
    // Nested or repeated openings ("<answer><answer>B</answer>"): the innermost one holds the answer.
    const inner = lower.lastIndexOf('<answer>', close - 8)
    contents.push(text.slice(inner + 8, close))
    pos = close + 9
  }
}

/** Contents of every \boxed{…} (balanced braces), in order. */
function boxedContents(text: string): string[] {
  const out: string[] = []
  let pos = 0
  for (;;) {
    const at = text.indexOf('\\boxed{', pos)
    if (at === -1) return out
    let depth = 1
    let i = at + 7
    for (; i < text.length && depth > 0; i++) {
      const c = text.charCodeAt(i)
      if (c === 123) depth++
      else if (c === 125) depth--
    }
    if (depth !== 0) return out // unbalanced to the end: nothing further can close
    out.push(text.slice(at + 7, i - 1))
    pos = i
  }
}

/** "the answer is", "correct option:", "final answer would be"… then the statement that follows. */
const STATEMENT =
  /\b(?:final answer|correct answer|best answer|right answer|correct option|correct choice|best option|best choice|answer)(?: (?:is|would be|should be|must be|will be|=))?(?: (?:therefore|thus|then|clearly|likely|probably|most likely))?(?: ?[:=])? ?/gi
/** "(B) is correct", "option B is the best answer". */
const REVERSED = /(?:\b(?:option|choice) )?[([]?\b([A-J])\b[)\]]? (?:is|would be|seems to be) (?:the )?(?:correct|right|best|most likely|most appropriate)\b/g
const NEGATION = /^(?:not\b|n't\b|incorrect\b|wrong\b)/i
const CORRECTION = /\b(?:but rather|but instead|but|rather|instead|it is|it's)\b ?[:,]? ?(?:option )?/gi

/** True when the sentence a statement starts ends with a question mark. */
function endsInQuestion(tail: string): boolean {
  for (let i = 0; i < tail.length; i++) {
    const c = tail[i]
    if (c === '?') return true
    // A full stop ends the sentence unless it follows a lone letter ("B. text" is still one statement).
    if (c === '!' || (c === '.' && (i > 1 || !/^[([]?[A-Ja-j]$/.test(tail.slice(0, i))))) return false
  }
  return false
}


/** Where a statement starts, and how to read it (done lazily: only the winning end is usually read). */
interface Candidate {
  at: number
  read: () => Exclude<Reading, null> | null
}

/** Every final-answer statement in the flattened text, in order; negated and questioning ones read as null. */
function statementCandidates(flat: string, r: OptionIndex, matchText: boolean): Candidate[] {
  const found: Candidate[] = []
  for (const m of flat.matchAll(STATEMENT)) {
    const start = m.index! + m[0].length
    found.push({
      at: m.index!,
      read: () => {
        const tail = flat.slice(start, start + MAX_STATEMENT)
        if (NEGATION.test(tail)) {
          // "the answer is not A but C": the correction, if any, is the statement.
          CORRECTION.lastIndex = 0
          const c = CORRECTION.exec(tail.slice(0, 80))
          return c ? readStatement(tail.slice(c.index + c[0].length), r, matchText) : null
        }
        if (endsInQuestion(tail)) return null // "and the answer is X? No, …": thinking aloud, not an answer
        const reading = readStatement(tail, r, matchText)
        return reading && 'none' in reading && reading.none === 'empty_answer' ? null : reading
      },
    })
  }
  for (const m of flat.matchAll(REVERSED)) {
    const letter = m[1] as Letter
    found.push({ at: m.index!, read: () => (r.has(letter) ? { letter } : { none: 'not_an_option', candidates: [letter] }) })
  }
  return found.sort((a, b) => a.at - b.at)
}

/** The winning statement under the mention policy: the last (or first) one that reads as an answer. */
function chooseStatement(cands: readonly Candidate[], mention: 'last' | 'first'): Exclude<Reading, null> | null {
  for (let k = 0; k < cands.length; k++) {
    const reading = cands[mention === 'last' ? cands.length - 1 - k : k]!.read()
    if (reading) return reading
  }
  return null
}

function result(reading: Exclude<Reading, null>, method: ExtractMethod): Extraction {
  if ('letter' in reading) return { letter: reading.letter, method }
  return reading.candidates ? { letter: null, method, reason: reading.none, candidates: reading.candidates } : { letter: null, method, reason: reading.none }
}

function pick<T>(xs: readonly T[], mention: 'last' | 'first'): T | undefined {
  return mention === 'first' ? xs[0] : xs[xs.length - 1]
}

/** The last non-empty line, read as "B. text" / "(B)" / "B" (lenient fallback). */
function lastLine(text: string): string {
  let end = text.length
  while (end > 0) {
    const start = text.lastIndexOf('\n', end - 1)
    const line = text.slice(start + 1, end).trim()
    if (line !== '') return line.length > MAX_STATEMENT ? line.slice(0, MAX_STATEMENT) : line
    if (start === -1) break
    end = start
  }
  return ''
}

/**
 * A line that holds nothing but an answer. Lines that merely start with a letter or an option's text
 * ("Option G (5'-GGATC…): missing a C", "Treponema pallidum: typically…") are reasoning, often cut off.
 */
function answerOnlyLine(line: string, r: OptionIndex, matchText: boolean): Letter | null {
  const m = /^[([]?([A-J])(?:[)\]]|(?![A-Za-z0-9]))[.:)]? ?(.*)$/.exec(line.replace(LEADING, ''))
  if (m) {
    const letter = m[1] as Letter
    const rest = normalizeText(m[2]!)
    const own = r.entries().find(([l]) => l === letter)?.[1]
    if (r.has(letter) && (rest === '' || rest === own)) return letter
    return null
  }
  if (!matchText) return null
  const f = normalizeText(line)
  const hits = r.entries().filter(([, t]) => t !== '' && t === f)
  return hits.length === 1 ? hits[0]![0] : null
}

/** Extracts the chosen option letter from a model's output. Never throws; linear time. */
export function extractAnswer(output: string, record: Options, opts: ExtractOptions = {}): Extraction {
  const mode = opts.mode ?? 'lenient'
  const format = opts.format ?? 'r1'
  const mention = opts.mention ?? 'last'
  const matchText = opts.matchOptionText ?? true
  if (typeof output !== 'string' || output.trim() === '') return { letter: null, method: 'none', reason: 'no_answer' }
  const index = new OptionIndex(record)

  // 1. The statement the format asks for.
  if (format === 'r1' || mode === 'lenient') {
    const tags = answerTags(output)
    if (tags.contents.length > 0 && !(mode === 'strict' && tags.unclosed)) {
      const content = pick(tags.contents, mention)!
      const reading = readStatement(content, index, matchText) ?? { none: 'unmatched_text' as const }
      if ('letter' in reading || mode === 'strict' || reading.none === 'ambiguous' || reading.none === 'not_an_option') return result(reading, 'answer_tag')
    }
    if (mode === 'strict' && format === 'r1') return { letter: null, method: 'none', reason: tags.unclosed ? 'unclosed_tag' : 'no_answer' }
  }
  if (format === 'boxed' || mode === 'lenient') {
    const boxes = boxedContents(output)
    if (boxes.length > 0) {
      const reading = readStatement(pick(boxes, mention)!, index, matchText) ?? { none: 'unmatched_text' as const }
      if ('letter' in reading || mode === 'strict' || reading.none === 'ambiguous' || reading.none === 'not_an_option') return result(reading, 'boxed')
    }
    if (mode === 'strict' && format === 'boxed') return { letter: null, method: 'none', reason: 'no_answer' }
  }
  if (format === 'letter' && mode === 'strict') {
    const reading = readStatement(output.trim(), index, matchText)
    return reading ? result(reading, 'bare') : { letter: null, method: 'none', reason: 'no_answer' }
  }

  // 2. Lenient: "the answer is …" statements, the last one winning by default.
  const flat = flatten(output)
  const chosen = chooseStatement(statementCandidates(flat, index, matchText), mention)
  if (chosen) return result(chosen, 'statement')

  // 3. A final line that is only an answer: "B", "**B.**", "B. <that option's text>", or an option's text.
  const line = flatten(lastLine(output))
  const letter = answerOnlyLine(line, index, matchText)
  if (letter !== null) return { letter, method: line.length === flat.length ? 'bare' : 'letter_line' }
  return { letter: null, method: 'none', reason: 'no_answer' }
}

/** True when the extracted letter is the record's answer (or one of its equivalent answers). */
export function isCorrect(letter: Letter | null, record: Pick<QARecord, 'answer' | 'meta'>): boolean {
  if (letter === null) return false
  if (letter === record.answer) return true
  const eq = record.meta.equivalent_answers
  return Array.isArray(eq) && eq.some((l) => isLetter(l) && l === letter)
}
