import { LETTERS, MIN_OPTIONS, type Letter } from './record.js'

/**
 * Parsers for options written inside a question's text. Both run in linear time: every search moves
 * forward from where the last one stopped, and no regular expression can backtrack over the input.
 */

export interface ParsedChoices {
  /** The text before the options (the question stem), trimmed. */
  stem: string
  /** Option texts in letter order A, B, C… */
  options: string[]
}

export type ParseResult = { ok: true; value: ParsedChoices } | { ok: false; reason: string }

/** Counts characters examined, so tests can check the parsers stay linear. */
export interface ScanStats {
  scanned: number
}

const MARKER = 'Answer Choices:'

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 0xa0
}

/** Finds "(L)" at or after `from`, at the start or after white space. Returns -1 if absent. */
function findParenMarker(text: string, letter: Letter, from: number, stats?: ScanStats): number {
  const needle = `(${letter})`
  let p = from
  for (;;) {
    const q = text.indexOf(needle, p)
    if (stats) stats.scanned += (q === -1 ? text.length : q + needle.length) - p
    if (q === -1) return -1
    if (q === from || isSpace(text.charCodeAt(q - 1))) return q
    p = q + 1
  }
}

/**
 * Parses `stem\nAnswer Choices: (A) … (B) …` (the MedXpertQA evaluation layout). Option texts may hold
 * parentheses, letters and line breaks; an option ends where the next letter's marker begins.
 */
export function parseAnswerChoices(text: string, stats?: ScanStats): ParseResult {
  const at = text.lastIndexOf(MARKER)
  if (stats) stats.scanned += text.length
  if (at === -1) return { ok: false, reason: `no "${MARKER}" section in the question text` }
  const stem = text.slice(0, at).trim()
  let pos = at + MARKER.length
  while (pos < text.length && isSpace(text.charCodeAt(pos))) pos++
  if (!text.startsWith('(A)', pos)) return { ok: false, reason: `"${MARKER}" is not followed by "(A)"` }
  const starts: number[] = [pos]
  for (let i = 1; i < LETTERS.length; i++) {
    const q = findParenMarker(text, LETTERS[i]!, starts[i - 1]! + 3, stats)
    if (q === -1) break
    starts.push(q)
  }
  const options: string[] = []
  for (let i = 0; i < starts.length; i++) {
    const end = i + 1 < starts.length ? starts[i + 1]! : text.length
    options.push(text.slice(starts[i]! + 3, end).trim())
  }
  return checkParsed(stem, options, text, starts[starts.length - 1]! + 3, stats)
}

/**
 * Rejects results a reader could not trust: too few options, an empty one, or the options restarting at
 * "(A) … (B)" after the last one (two options sharing letters). A lone reference such as
 * "(D) Both (A) & (C)" is option text, as MedMCQA writes it.
 */
function checkParsed(stem: string, options: string[], text: string, tailFrom: number, stats?: ScanStats): ParseResult {
  if (options.length < MIN_OPTIONS) return { ok: false, reason: `found ${options.length} option(s) in the text; at least ${MIN_OPTIONS} are needed` }
  const empty = options.findIndex((o) => o === '')
  if (empty !== -1) return { ok: false, reason: `option ${LETTERS[empty]} is empty` }
  const again = findParenMarker(text, 'A', tailFrom, stats)
  if (again !== -1 && findParenMarker(text, 'B', again + 3, stats) !== -1) {
    return { ok: false, reason: 'the option letters start again at (A) after the last option: two options share a letter' }
  }
  if (stem === '') return { ok: false, reason: 'the question text before the options is empty' }
  return { ok: true, value: { stem, options } }
}

/** Letter of a line that starts an option ("A. text", "A) text", "(A) text"), or null. */
function optionLineLetter(line: string): { letter: Letter; text: string } | null {
  let i = 0
  while (i < line.length && isSpace(line.charCodeAt(i))) i++
  let paren = false
  if (line[i] === '(') {
    paren = true
    i++
  }
  const c = line[i]
  if (c === undefined || c < 'A' || c > 'J') return null
  const sep = line[i + 1]
  if (paren ? sep !== ')' : sep !== '.' && sep !== ')' && sep !== ':') return null
  const rest = line.slice(i + 2)
  if (rest !== '' && !isSpace(rest.charCodeAt(0))) return null
  return { letter: c as Letter, text: rest.trim() }
}

/**
 * Parses options written one a line after the stem ("A. yes\nB. no\nC. maybe"), as in chat-style
 * evaluation files. The options are the last run of lines lettered A, B, C… in order; a line that starts
 * no option continues the one before it.
 */
export function parseOptionLines(text: string): ParseResult {
  const lines = text.split('\n')
  // One forward pass: an "A." line starts a new candidate run; a letter out of order ends it.
  let run: { start: number; options: string[] } | null = null
  for (let j = 0; j < lines.length; j++) {
    const o = optionLineLetter(lines[j]!)
    if (o?.letter === 'A') run = { start: j, options: [o.text] }
    else if (run === null) continue
    else if (o && o.letter === LETTERS[run.options.length]) run.options.push(o.text)
    else if (o) run = null
    else {
      const last = run.options.length - 1
      run.options[last] = `${run.options[last]}\n${lines[j]!.trim()}`.trim()
    }
  }
  if (run === null) return { ok: false, reason: 'no option lines "A. …", "B. …" found in the text' }
  const stem = lines.slice(0, run.start).join('\n').trim()
  if (run.options.length < MIN_OPTIONS) return { ok: false, reason: `found ${run.options.length} option line(s); at least ${MIN_OPTIONS} are needed` }
  const empty = run.options.findIndex((o) => o === '')
  if (empty !== -1) return { ok: false, reason: `option ${LETTERS[empty]} is empty` }
  if (stem === '') return { ok: false, reason: 'the question text before the options is empty' }
  return { ok: true, value: { stem, options: run.options } }
}
