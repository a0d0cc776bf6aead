import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ModelConfig } from '../config.js'
import type { GgufKv } from './format.js'

/**
 * A Hugging Face byte-level BPE tokenizer as llama.cpp's "gpt2" vocabulary: every token string by id,
 * its type, the merges, the pre-tokenizer llama.cpp must use, the special ids and the chat template.
 * Anything llama.cpp would tokenize differently is refused, naming the field.
 */

/** llama.cpp's token types. */
const TOKEN_TYPE = { normal: 1, control: 3, userDefined: 4, unused: 5 } as const

/**
 * Pre-tokenizer regexes llama.cpp implements, by its name for them (`tokenizer.ggml.pre`). A ByteLevel
 * pre-tokenizer with use_regex splits with GPT-2's pattern; real Qwen2 and Llama 3 tokenizers put their
 * own pattern in a Split before a ByteLevel without regex.
 */
const SPLIT_PATTERNS: Record<string, string> = {
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'qwen2',
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'llama-bpe',
}

type Json = Record<string, unknown>

function preTokenizerName(pre: Json | null | undefined, where: string): string {
  const describe = () => JSON.stringify(pre).slice(0, 200)
  if (pre?.type === 'ByteLevel') {
    if (pre.use_regex === false) throw new Error(`${where}: pre_tokenizer ByteLevel without a regex has no llama.cpp equivalent`)
    if (pre.add_prefix_space === true) throw new Error(`${where}: pre_tokenizer ByteLevel with add_prefix_space has no llama.cpp equivalent`)
    return 'gpt-2'
  }
  if (pre?.type === 'Sequence') {
    const steps = (pre.pretokenizers as Json[] | undefined) ?? []
    const split = steps[0]
    const byteLevel = steps[1]
    const pattern = (split?.pattern as Json | undefined)?.Regex
    if (steps.length === 2 && split?.type === 'Split' && typeof pattern === 'string' && byteLevel?.type === 'ByteLevel' && byteLevel.use_regex === false) {
      const name = SPLIT_PATTERNS[pattern]
      if (name) return name
      throw new Error(`${where}: pre_tokenizer regex ${JSON.stringify(pattern)} is not one llama.cpp implements (Qwen2's, Llama 3's, GPT-2's)`)
    }
  }
  throw new Error(`${where}: pre_tokenizer ${describe()} has no llama.cpp equivalent (byte-level BPE with GPT-2's, Qwen2's or Llama 3's split)`)
}

function readJson(path: string): Json {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`)
  }
}

function specialContent(v: unknown): string | null {
  if (typeof v === 'string') return v
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string
  return null
}

/** The `tokenizer.*` key-values of a GGUF file for the tokenizer in a model directory. */
export function tokenizerMetadata(dir: string, config: ModelConfig): [string, GgufKv][] {
  const path = join(dir, 'tokenizer.json')
  if (!existsSync(path)) throw new Error(`${dir}: no tokenizer.json (llama.cpp needs the vocabulary in the GGUF file)`)
  const tj = readJson(path)
  const model = (tj.model as Json | undefined) ?? {}
  if (model.type !== 'BPE') throw new Error(`${path}: model.type ${JSON.stringify(model.type)} is not BPE (medrl exports byte-level BPE tokenizers)`)
  if (model.byte_fallback === true) throw new Error(`${path}: model.byte_fallback (SentencePiece-style BPE) is not supported; medrl exports byte-level BPE`)
  if (tj.normalizer !== null && tj.normalizer !== undefined) throw new Error(`${path}: normalizer ${JSON.stringify(tj.normalizer).slice(0, 120)} has no llama.cpp equivalent for a byte-level BPE`)
  if ((tj.decoder as Json | null)?.type !== 'ByteLevel') throw new Error(`${path}: decoder ${JSON.stringify(tj.decoder).slice(0, 120)} is not ByteLevel`)
  const pre = preTokenizerName(tj.pre_tokenizer as Json | null, path)

  const n = config.vocab_size
  const tokens: (string | undefined)[] = new Array(n)
  const types: number[] = new Array(n).fill(TOKEN_TYPE.normal)
  const place = (tok: string, id: number, field: string) => {
    if (!Number.isInteger(id) || id < 0 || id >= n) throw new Error(`${path}: ${field} "${tok}" has id ${id}, outside the model's vocabulary (config.json vocab_size ${n})`)
    tokens[id] = tok
  }
  for (const [tok, id] of Object.entries((model.vocab as Record<string, number> | undefined) ?? {})) place(tok, id, 'model.vocab token')
  for (const a of (tj.added_tokens as Json[] | undefined) ?? []) {
    place(String(a.content), Number(a.id), 'added token')
    types[Number(a.id)] = a.special === true ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined
  }
  // Rows of the embedding no token uses (vocab_size is often rounded up) get placeholder names, as llama.cpp's converter does.
  for (let i = 0; i < n; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`
      types[i] = TOKEN_TYPE.unused
    }
  }
  const merges = ((model.merges as unknown[] | undefined) ?? []).map((m, i) => {
    if (typeof m === 'string') return m
    if (Array.isArray(m) && m.length === 2) {
      if (m.some((p) => String(p).includes(' '))) throw new Error(`${path}: merge ${i} ${JSON.stringify(m)} has a space inside a part, which llama.cpp's "a b" merges cannot hold`)
      return `${m[0]} ${m[1]}`
    }
    throw new Error(`${path}: merge ${i} is ${JSON.stringify(m)}, not "a b" or ["a", "b"]`)
  })

  const cfgPath = join(dir, 'tokenizer_config.json')
  const tcfg = existsSync(cfgPath) ? readJson(cfgPath) : {}
  const idOf = (key: string): number | null => {
    const c = specialContent(tcfg[key])
    if (c === null) return null
    const id = tokens.indexOf(c)
    return id >= 0 ? id : null
  }
  const kv: [string, GgufKv][] = [
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: pre }],
    ['tokenizer.ggml.tokens', { type: 'array', elem: 'string', value: tokens as string[] }],
    ['tokenizer.ggml.token_type', { type: 'array', elem: 'i32', value: types }],
    ['tokenizer.ggml.merges', { type: 'array', elem: 'string', value: merges }],
  ]
  const bos = idOf('bos_token') ?? config.bos_token_id
  const eos = config.eos_token_id[0] ?? idOf('eos_token')
  const pad = idOf('pad_token') ?? config.pad_token_id
  if (bos !== null) kv.push(['tokenizer.ggml.bos_token_id', { type: 'u32', value: bos }])
  if (eos !== null && eos !== undefined) kv.push(['tokenizer.ggml.eos_token_id', { type: 'u32', value: eos }])
  if (pad !== null) kv.push(['tokenizer.ggml.padding_token_id', { type: 'u32', value: pad }])
  kv.push(['tokenizer.ggml.add_bos_token', { type: 'bool', value: tcfg.add_bos_token === true }])
  kv.push(['tokenizer.ggml.add_eos_token', { type: 'bool', value: tcfg.add_eos_token === true }])
  const jinja = join(dir, 'chat_template.jinja')
  const template = existsSync(jinja) ? readFileSync(jinja, 'utf8') : typeof tcfg.chat_template === 'string' ? tcfg.chat_template : null
  if (template !== null) kv.push(['tokenizer.chat_template', { type: 'string', value: template }])
  return kv
}
