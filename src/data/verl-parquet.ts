import { parquetWriteBuffer } from 'hyparquet-writer'
import { writeFileAtomic } from '../util/atomic.js'
import { LETTERS, optionEntries, type QARecord } from './record.js'

/** The prompt verl will show the model; the default lists the options under the question. */
export type PromptFn = (r: QARecord) => string

export function plainPrompt(r: QARecord): string {
  const ctx = r.context !== undefined ? `${r.context}\n\n` : ''
  return `${ctx}${r.question}\nOptions:\n${optionEntries(r)
    .map(([l, t]) => `${l}. ${t}`)
    .join('\n')}`
}

const utf8 = { type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' } as const

/**
 * Writes records as verl RL rows (Parquet, snappy): data_source, prompt, ability, reward_model
 * {ground_truth (the right option's text, as verl MCQA datasets hold it), style}, extra_info {index, id,
 * split, answer (letter), question, context, meta (JSON), options {A..J}}. medrl reads the file back unchanged.
 */
export function writeVerlParquet(path: string, records: readonly QARecord[], prompt: PromptFn = plainPrompt): void {
  const optionStruct = (r: QARecord) => Object.fromEntries(LETTERS.map((l) => [l, r.options[l] ?? null]))
  const buf = parquetWriteBuffer({
    columnData: [
      { name: 'data_source', data: records.map((r) => r.source) },
      { name: 'prompt', data: records.map(prompt) },
      { name: 'ability', data: records.map(() => 'medical') },
      { name: 'reward_model', data: records.map((r) => ({ ground_truth: r.options[r.answer] ?? '', style: 'rule' })) },
      {
        name: 'extra_info',
        data: records.map((r, i) => ({ index: BigInt(i), id: r.id, split: r.split, answer: r.answer, question: r.question, context: r.context ?? null, meta: JSON.stringify(r.meta), options: optionStruct(r) })),
      },
    ],
    schema: [
      { name: 'root', num_children: 5 },
      { name: 'data_source', ...utf8 },
      { name: 'prompt', ...utf8 },
      { name: 'ability', ...utf8 },
      { name: 'reward_model', repetition_type: 'OPTIONAL', num_children: 2 },
      { name: 'ground_truth', ...utf8 },
      { name: 'style', ...utf8 },
      { name: 'extra_info', repetition_type: 'OPTIONAL', num_children: 8 },
      { name: 'index', type: 'INT64', repetition_type: 'OPTIONAL' },
      { name: 'id', ...utf8 },
      { name: 'split', ...utf8 },
      { name: 'answer', ...utf8 },
      { name: 'question', ...utf8 },
      { name: 'context', ...utf8 },
      { name: 'meta', ...utf8 },
      { name: 'options', repetition_type: 'OPTIONAL', num_children: LETTERS.length },
      ...LETTERS.map((l) => ({ name: l, ...utf8 })),
    ],
  })
  writeFileAtomic(path, new Uint8Array(buf))
}
