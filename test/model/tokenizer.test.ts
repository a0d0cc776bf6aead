import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { GPT2_PATTERN, SPECIAL_TOKENS, bytesToUnicode, tokenizerConfigJson, tokenizerJson, trainBpe } from '../../src/model/bpe.js'
import { TextTokenizer } from '../../src/model/tokenizer.js'
import { dataFile } from '../helpers.js'

const corpus = readFileSync(dataFile('medqa/medqa_input.jsonl'), 'utf8').split('\n').slice(0, 200)

describe('byte-level BPE trained by medrl, read by @huggingface/tokenizers', () => {
  const bpe = trainBpe(corpus, { vocabSize: 600, specialTokens: Object.values(SPECIAL_TOKENS) })
  const tok = new TextTokenizer(tokenizerJson(bpe), tokenizerConfigJson(bpe))

  it('is deterministic and learns frequent merges first', () => {
    const again = trainBpe(corpus, { vocabSize: 600, specialTokens: Object.values(SPECIAL_TOKENS) })
    assert.deepEqual(again.merges, bpe.merges)
    assert.equal(Object.keys(bpe.vocab).length, 600)
    // The first merge is the most frequent adjacent byte pair of the pre-tokenized corpus, counted here independently.
    const b2u = bytesToUnicode()
    const pairs = new Map<string, number>()
    for (const line of corpus) {
      for (const m of line.matchAll(GPT2_PATTERN)) {
        const chars = Array.from(new TextEncoder().encode(m[0]), (b) => b2u[b]!)
        for (let i = 0; i + 1 < chars.length; i++) pairs.set(`${chars[i]} ${chars[i + 1]}`, (pairs.get(`${chars[i]} ${chars[i + 1]}`) ?? 0) + 1)
      }
    }
    const top = Math.max(...pairs.values())
    assert.equal(pairs.get(bpe.merges[0]!.join(' ')), top)
  })

  it('round-trips any text exactly (bytes, Unicode, special tokens) and compresses medical text', () => {
    for (const s of ['A 67-year-old man with transitional cell carcinoma', 'Ünïcödé ✓ 中文 🙂', '<|im_start|>user\nQ?<|im_end|>', '  spaces\tand\nnewlines  ']) {
      assert.equal(tok.decode(tok.encode(s)), s)
    }
    const q = 'The patient presents with fever and abdominal pain after the procedure.'
    assert.ok(tok.encode(q).length < q.length / 2, 'merges shorten common words')
    assert.deepEqual(tok.encode('<|im_end|>'), [tok.tokenToId('<|im_end|>')])
  })

  it('special token ids and the ChatML template', () => {
    assert.equal(tok.bosId, 600)
    assert.equal(tok.eosId, 601)
    assert.equal(tok.padId, 602)
    assert.equal(tok.chat?.render([{ role: 'user', content: 'Q?' }]), '<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n')
  })
})
