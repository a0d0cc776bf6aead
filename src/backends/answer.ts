import type { Letter, QARecord } from '../data/record.js'
import type { GenParams } from '../generate/generator.js'
import { extractAnswer, isCorrect, type ExtractMode } from '../reward/extract.js'
import { renderPrompt, type PromptTemplate } from '../reward/templates.js'
import type { Backend, BackendCompletion, BackendRequest } from './types.js'

/** One sampled answer to a question: the completion, the letter read from it, and whether it is right. */
export interface AnsweredSample {
  completion: BackendCompletion
  letter: Letter | null
  correct: boolean
}

export interface AskOptions {
  template: PromptTemplate
  /** Send chat messages (the model's chat template / /chat/completions) instead of a rendered prompt. */
  chat?: boolean
  mode: ExtractMode
  /** Generation settings of each question (seeds are per question, so batching changes nothing). */
  params: (r: QARecord, i: number) => Partial<GenParams>
}

/**
 * What evaluation and difficulty passes share: render each question with the template, generate its
 * samples on a backend, and read and check the answer of each.
 */
export async function askQuestions(backend: Backend, records: readonly QARecord[], o: AskOptions): Promise<AnsweredSample[][]> {
  const rendered = records.map((r) => renderPrompt(r, o.template))
  const reqs: BackendRequest[] = rendered.map((p, i) => (o.chat ? { messages: o.template.messages(p.record), params: o.params(records[i]!, i) } : { prompt: p.text, params: o.params(records[i]!, i) }))
  const out = await backend.generate(reqs)
  return records.map((r, i) =>
    out[i]!.map((completion) => {
      const letter = extractAnswer(completion.text, r, { mode: o.mode, format: o.template.answerFormat }).letter
      return { completion, letter, correct: isCorrect(letter, r) }
    }),
  )
}
