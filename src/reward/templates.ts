import { Registry } from '../util/registry.js'
import { Rng, hashString32 } from '../util/rng.js'
import { LETTERS, optionEntries, type Letter, type QARecord } from '../data/record.js'
import type { ChatMessage, ChatTemplate } from '../model/chat-template.js'

/** How a template asks the model to give its answer; extraction and format checks follow it. */
export type AnswerFormat = 'r1' | 'boxed' | 'letter'

export interface PromptTemplate {
  name: string
  description: string
  answerFormat: AnswerFormat
  /** What goes inside the answer: the option's letter (default) or its text (extraction maps it to its letter). */
  answerWith?: 'letter' | 'text'
  /** Text the prompt pre-fills at the start of the completion; format checks read prefix + completion. */
  completionPrefix: string
  /** The instruction (a system message in chat form; the head of the text in plain form). */
  instruction: string
  /** Plain text for base models: instruction, question, and the cue where the completion starts. */
  plain(r: QARecord): string
  /** Chat messages for instruct models, rendered through the model's own chat template. */
  messages(r: QARecord): ChatMessage[]
}

/** Context (if any), question, and "Options:" with one "A. text" line each. */
export function questionBlock(r: QARecord): string {
  const ctx = r.context !== undefined && r.context.trim() !== '' ? `Context: ${r.context.trim()}\n\n` : ''
  const opts = optionEntries(r)
    .map(([l, t]) => `${l}. ${t}`)
    .join('\n')
  return `${ctx}${r.question.trim()}\nOptions:\n${opts}`
}

const R1_INSTRUCTION =
  'A conversation between User and Assistant. The User asks a question, and the Assistant solves it. ' +
  'The Assistant first thinks about the reasoning process in the mind and then provides the User with the answer. ' +
  'The reasoning process is enclosed within <think> </think> and the answer within <answer> </answer> tags, i.e., ' +
  '<think> reasoning process here </think><answer> answer here </answer>. The answer is the letter of the correct option.'

// The same instruction, asking for the option's text: a model too small to find the letter that labels a
// text it has in mind can still name it (the clinical testbed's base models are that small).
const R1_TEXT_INSTRUCTION = R1_INSTRUCTION.replace('the letter of the correct option', 'the text of the correct option')

const BOXED_INSTRUCTION = 'Please reason step by step, and put the final answer in \\boxed{}.'
const DIRECT_INSTRUCTION = 'Answer with the letter of the correct option only.'

const registry = new Registry<PromptTemplate>('a template', 'template')

export function registerTemplate(t: PromptTemplate): void {
  registry.register(t.name, t)
}

export function getTemplate(name: string): PromptTemplate {
  return registry.get(name)
}

export function templateNames(): string[] {
  return registry.names()
}

/** An R1 conversation template: the instruction as the system turn, the question as the user's. */
function r1Template(name: string, description: string, instruction: string, answerWith: 'letter' | 'text', completionPrefix = ''): PromptTemplate {
  return {
    name,
    description,
    answerFormat: 'r1',
    answerWith,
    completionPrefix,
    instruction,
    plain: (r) => `${instruction}\nUser: ${questionBlock(r)}\nAssistant:`,
    messages: (r) => [
      { role: 'system', content: instruction },
      { role: 'user', content: questionBlock(r) },
    ],
  }
}

registerTemplate(r1Template('r1', 'R1 / Med-RLVR: reasoning in <think> … </think>, then the option letter in <answer> … </answer>', R1_INSTRUCTION, 'letter'))
registerTemplate(
  r1Template('r1-think', 'R1 with <think> pre-filled after "Assistant:" (R1-Zero style prompts for base models); the format check reads the pre-filled tag as part of the completion', R1_INSTRUCTION, 'letter', '<think>'),
)
registerTemplate(r1Template('r1-text', 'R1 format with the option text (not its letter) in <answer> … </answer>: the clinical testbed default', R1_TEXT_INSTRUCTION, 'text'))

registerTemplate({
  name: 'boxed',
  description: 'step-by-step reasoning, final answer in \\boxed{} (the style AlphaMed-8B is evaluated with)',
  answerFormat: 'boxed',
  completionPrefix: '',
  instruction: BOXED_INSTRUCTION,
  plain: (r) => `${questionBlock(r)}\n${BOXED_INSTRUCTION}\nAnswer:`,
  messages: (r) => [{ role: 'user', content: `${questionBlock(r)}\n${BOXED_INSTRUCTION}` }],
})

registerTemplate({
  name: 'direct',
  description: 'the option letter only, no reasoning (base-model baselines)',
  answerFormat: 'letter',
  completionPrefix: '',
  instruction: DIRECT_INSTRUCTION,
  plain: (r) => `${DIRECT_INSTRUCTION}\n\n${questionBlock(r)}\nAnswer:`,
  messages: (r) => [{ role: 'user', content: `${questionBlock(r)}\n${DIRECT_INSTRUCTION}` }],
})

/**
 * The options in a random order (seeded per record from `seed` and its id, so one record's order does not
 * depend on the others); the answer letter follows its text. `meta.option_order` lists, for each new
 * letter, the letter it had before.
 */
export function shuffleOptions(r: QARecord, seed: number): QARecord {
  const entries = optionEntries(r)
  const order = new Rng(hashString32(`${seed}:${r.id}`)).shuffle(entries.map((_, i) => i))
  const options: Partial<Record<Letter, string>> = {}
  let answer: Letter = r.answer
  const from: Letter[] = []
  order.forEach((src, i) => {
    const [oldLetter, text] = entries[src]!
    options[LETTERS[i]!] = text
    from.push(oldLetter)
    if (oldLetter === r.answer) answer = LETTERS[i]!
  })
  const equivalent = r.meta.equivalent_answers
  const meta: Record<string, unknown> = { ...r.meta, option_order: from, option_shuffle_seed: seed }
  if (Array.isArray(equivalent)) meta.equivalent_answers = equivalent.map((l) => LETTERS[from.indexOf(l as Letter)]).filter((l) => l !== undefined)
  return { ...r, options, answer, meta }
}

/**
 * The right answer as a completion in the template's answer format (the option's text for answer-with-text
 * templates), after an optional reasoning: what supervised fine-tuning and a base's warm-up learn to write.
 */
export function answerCompletion(r: QARecord, t: PromptTemplate, reasoning = ''): string {
  const given = (t.answerWith === 'text' ? r.options[r.answer] : undefined) ?? r.answer
  if (t.answerFormat === 'r1') return ` <think>${reasoning}</think><answer>${given}</answer>`
  if (t.answerFormat === 'boxed') return ` ${reasoning ? `${reasoning} ` : ''}The answer is \\boxed{${given}}.`
  return ` ${given}`
}

export interface RenderOptions {
  /** Render through this chat template (instruct models); plain text otherwise (base models). */
  chat?: ChatTemplate
  /** Shuffle the options with this seed first. */
  shuffleSeed?: number
}

export interface RenderedPrompt {
  /** The exact text the model continues. */
  text: string
  /** The record as the model saw it (options possibly shuffled): score against this one. */
  record: QARecord
  template: PromptTemplate
}

export function renderPrompt(r: QARecord, template: PromptTemplate | string, opts: RenderOptions = {}): RenderedPrompt {
  const t = typeof template === 'string' ? getTemplate(template) : template
  const record = opts.shuffleSeed !== undefined ? shuffleOptions(r, opts.shuffleSeed) : r
  const text = opts.chat ? opts.chat.render(t.messages(record), { addGenerationPrompt: true }) + t.completionPrefix : t.plain(record) + (t.completionPrefix ? ` ${t.completionPrefix}` : '')
  return { text, record, template: t }
}
