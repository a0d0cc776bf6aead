import { parquetWriteBuffer } from 'hyparquet-writer'
import { writeFileAtomic } from '../util/atomic.js'
import type { ChatMessage } from '../model/chat-template.js'
import { LETTERS, optionEntries, type QARecord } from './record.js'

/** The prompt verl will show the model: a text, or chat messages (what verl's RL datasets hold). */
export type PromptFn = (r: QARecord) => string | ChatMessage[]

export function plainPrompt(r: QARecord): string {
  const ctx = r.context !== undefined ? `${r.context}\n\n` : ''
  return `${ctx}${r.question}\nOptions:\n${optionEntries(r)
    .map(([l, t]) => `${l}. ${t}`)
    .join('\n')}`
}

const utf8 = { type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' } as const

export interface VerlRowOptions {
  prompt?: PromptFn
  /** Further string fields of every row's extra_info (e.g. what medrl's reward service needs to score it). */
  extraInfo?: Record<string, string>
}

/**
 * Writes records as verl RL rows (Parquet, snappy): data_source, prompt (a text, or a list of {role, content}
 * messages), ability, reward_model {ground_truth (the right option's text, as verl MCQA datasets hold it),
 * style}, extra_info {index, id, split, answer (letter), question, context, meta (JSON), options {A..J}, and
 * the given extra fields}. medrl reads the file back unchanged.
 */
export function writeVerlParquet(path: string, records: readonly QARecord[], opts: PromptFn | VerlRowOptions = {}): void {
  const { prompt = plainPrompt, extraInfo = {} } = typeof opts === 'function' ? { prompt: opts } : opts
  const prompts = records.map(prompt)
  const asMessages = prompts.length > 0 && Array.isArray(prompts[0])
  if (prompts.some((p) => Array.isArray(p) !== asMessages)) throw new Error(`${path}: every prompt must be a text, or every prompt chat messages`)
  const extraKeys = Object.keys(extraInfo)
  const optionStruct = (r: QARecord) => Object.fromEntries(LETTERS.map((l) => [l, r.options[l] ?? null]))
  const promptSchema = asMessages
    ? [
        { name: 'prompt', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
        { name: 'role', ...utf8 },
        { name: 'content', ...utf8 },
      ]
    : [{ name: 'prompt', ...utf8 }]
  const buf = parquetWriteBuffer({
    columnData: [
      { name: 'data_source', data: records.map((r) => r.source) },
      { name: 'prompt', data: prompts },
      { name: 'ability', data: records.map(() => 'medical') },
      { name: 'reward_model', data: records.map((r) => ({ ground_truth: r.options[r.answer] ?? '', style: 'rule' })) },
      {
        name: 'extra_info',
        data: records.map((r, i) => ({ index: BigInt(i), id: r.id, split: r.split, answer: r.answer, question: r.question, context: r.context ?? null, meta: JSON.stringify(r.meta), options: optionStruct(r), ...extraInfo })),
      },
    ],
    schema: [
      { name: 'root', num_children: 5 },
      { name: 'data_source', ...utf8 },
      ...promptSchema,
      { name: 'ability', ...utf8 },
      { name: 'reward_model', repetition_type: 'OPTIONAL', num_children: 2 },
      { name: 'ground_truth', ...utf8 },
      { name: 'style', ...utf8 },
      { name: 'extra_info', repetition_type: 'OPTIONAL', num_children: 8 + extraKeys.length },
      { name: 'index', type: 'INT64', repetition_type: 'OPTIONAL' },
      { name: 'id', ...utf8 },
      { name: 'split', ...utf8 },
      { name: 'answer', ...utf8 },
      { name: 'question', ...utf8 },
      { name: 'context', ...utf8 },
      { name: 'meta', ...utf8 },
      { name: 'options', repetition_type: 'OPTIONAL', num_children: LETTERS.length },
      ...LETTERS.map((l) => ({ name: l, ...utf8 })),
      ...extraKeys.map((k) => ({ name: k, ...utf8 })),
    ] as Parameters<typeof parquetWriteBuffer>[0]['schema'],
  })
  writeFileAtomic(path, new Uint8Array(buf))
}

/** One supervised example for verl's SFT trainer: the chat turns, and the record it came from. */
export interface VerlSftRow {
  messages: ChatMessage[]
  record: QARecord
}

/**
 * Writes SFT rows as verl 0.9's SFT trainer reads them (its MultiTurnSFTDataset: a `messages` column of
 * {role, content} turns, the loss on the assistant's), with data_source and extra_info {id, answer} kept
 * beside them so the examples can be traced back to their questions.
 */
export function writeVerlSftParquet(path: string, rows: readonly VerlSftRow[]): void {
  const buf = parquetWriteBuffer({
    columnData: [
      { name: 'data_source', data: rows.map((r) => r.record.source) },
      { name: 'messages', data: rows.map((r) => r.messages) },
      { name: 'extra_info', data: rows.map((r, i) => ({ index: BigInt(i), id: r.record.id, answer: r.record.answer })) },
    ],
    schema: [
      { name: 'root', num_children: 3 },
      { name: 'data_source', ...utf8 },
      { name: 'messages', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
      { name: 'role', ...utf8 },
      { name: 'content', ...utf8 },
      { name: 'extra_info', repetition_type: 'OPTIONAL', num_children: 3 },
      { name: 'index', type: 'INT64', repetition_type: 'OPTIONAL' },
      { name: 'id', ...utf8 },
      { name: 'answer', ...utf8 },
    ] as Parameters<typeof parquetWriteBuffer>[0]['schema'],
  })
  writeFileAtomic(path, new Uint8Array(buf))
}
