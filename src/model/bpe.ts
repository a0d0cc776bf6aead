import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../util/atomic.js'
/**
 * A byte-level BPE trainer (GPT-2 style), for the small tokenizers of models medrl creates itself. Its
 * output is a standard tokenizer.json (BPE model, ByteLevel pre-tokenizer and decoder) that Hugging Face
 * tokenizers — and @huggingface/tokenizers, which medrl uses to encode — read as they are.
 */

/** GPT-2's reversible map from bytes to printable characters. */
export function bytesToUnicode(): string[] {
  const bs: number[] = []
  for (let b = 33; b <= 126; b++) bs.push(b)
  for (let b = 161; b <= 172; b++) bs.push(b)
  for (let b = 174; b <= 255; b++) bs.push(b)
  const cs = [...bs]
  let n = 0
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b)
      cs.push(256 + n++)
    }
  }
  const map = new Array<string>(256)
  bs.forEach((b, i) => (map[b] = String.fromCodePoint(cs[i]!)))
  return map
}

/** The GPT-2 pre-tokenization pattern that the ByteLevel pre-tokenizer applies (use_regex: true). */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu

export interface BpeOptions {
  /** Size of the BPE vocabulary (256 byte symbols + merges), special tokens not included. */
  vocabSize: number
  /** Special tokens, given ids after the BPE vocabulary, in this order. */
  specialTokens: string[]
  /** Pairs seen fewer times than this are never merged. */
  minFrequency?: number
}

export interface TrainedBpe {
  vocab: Record<string, number>
  merges: [string, string][]
  specialTokens: { content: string; id: number }[]
}

/** Trains merges on the texts: most frequent pair first, ties to the lexicographically smallest pair. */
export function trainBpe(texts: Iterable<string>, opts: BpeOptions): TrainedBpe {
  const b2u = bytesToUnicode()
  const enc = new TextEncoder()
  const wordFreq = new Map<string, number>()
  for (const text of texts) {
    for (const m of text.matchAll(GPT2_PATTERN)) {
      const w = Array.from(enc.encode(m[0]), (b) => b2u[b]!).join('')
      wordFreq.set(w, (wordFreq.get(w) ?? 0) + 1)
    }
  }
  const words = [...wordFreq.keys()].sort()
  const freqs = words.map((w) => wordFreq.get(w)!)
  const symbols = words.map((w) => Array.from(w))
  const vocab: Record<string, number> = {}
  b2u.forEach((ch, i) => (vocab[ch] = i))
  const merges: [string, string][] = []
  const key = (a: string, b: string) => `${a}\u0000${b}`
  const counts = new Map<string, number>()
  const where = new Map<string, Set<number>>()
  const addPairs = (wi: number, sign: number) => {
    const s = symbols[wi]!
    for (let i = 0; i + 1 < s.length; i++) {
      const k = key(s[i]!, s[i + 1]!)
      counts.set(k, (counts.get(k) ?? 0) + sign * freqs[wi]!)
      if (sign > 0) {
        let set = where.get(k)
        if (!set) where.set(k, (set = new Set()))
        set.add(wi)
      }
    }
  }
  symbols.forEach((_, wi) => addPairs(wi, 1))
  const minFreq = opts.minFrequency ?? 2
  while (Object.keys(vocab).length < opts.vocabSize) {
    let best: string | null = null
    let bestCount = 0
    for (const [k, c] of counts) {
      if (c > bestCount || (c === bestCount && best !== null && c > 0 && k < best)) {
        best = k
        bestCount = c
      }
    }
    if (best === null || bestCount < minFreq) break
    const [a, b] = best.split('\u0000') as [string, string]
    const merged = a + b
    merges.push([a, b])
    vocab[merged] = Object.keys(vocab).length
    for (const wi of where.get(best) ?? []) {
      const s = symbols[wi]!
      addPairs(wi, -1)
      const out: string[] = []
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(merged)
          i++
        } else out.push(s[i]!)
      }
      symbols[wi] = out
      addPairs(wi, 1)
    }
    counts.delete(best)
    where.delete(best)
  }
  const base = Object.keys(vocab).length
  return { vocab, merges, specialTokens: opts.specialTokens.map((content, i) => ({ content, id: base + i })) }
}

/** tokenizer.json for a trained byte-level BPE. */
export function tokenizerJson(bpe: TrainedBpe): Record<string, unknown> {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: bpe.specialTokens.map((t) => ({ id: t.id, content: t.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: bpe.vocab,
      merges: bpe.merges,
    },
  }
}

/** A ChatML chat template (the layout Qwen2 instruct models use), for the tokenizers medrl trains. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

export const SPECIAL_TOKENS = { bos: '<|begin_of_text|>', eos: '<|end_of_text|>', pad: '<|pad|>', imStart: '<|im_start|>', imEnd: '<|im_end|>' } as const

/** tokenizer_config.json to go with `tokenizerJson`: special tokens and the chat template. */
export function tokenizerConfigJson(bpe: TrainedBpe): Record<string, unknown> {
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: SPECIAL_TOKENS.bos,
    eos_token: SPECIAL_TOKENS.eos,
    pad_token: SPECIAL_TOKENS.pad,
    add_bos_token: false,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    model_max_length: 4096,
    chat_template: CHATML_TEMPLATE,
    added_tokens_decoder: Object.fromEntries(bpe.specialTokens.map((t) => [String(t.id), { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }])),
  }
}

/** Trains a byte-level BPE on texts and writes tokenizer.json and tokenizer_config.json into `dir`. */
export function saveTrainedTokenizer(dir: string, texts: Iterable<string>, vocabSize: number): TrainedBpe & { eos: number; pad: number; bos: number; size: number } {
  const bpe = trainBpe(texts, { vocabSize, specialTokens: Object.values(SPECIAL_TOKENS) })
  mkdirSync(dir, { recursive: true })
  writeFileAtomic(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(bpe)))
  writeFileAtomic(join(dir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfigJson(bpe), null, 2)}\n`)
  const id = (t: string) => bpe.specialTokens.find((x) => x.content === t)!.id
  return { ...bpe, eos: id(SPECIAL_TOKENS.eos), pad: id(SPECIAL_TOKENS.pad), bos: id(SPECIAL_TOKENS.bos), size: Object.keys(bpe.vocab).length + bpe.specialTokens.length }
}
