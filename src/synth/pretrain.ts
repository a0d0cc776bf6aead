import { join } from 'node:path'
import { saveTrainedTokenizer } from '../model/bpe.js'
import { CausalLM } from '../model/causal-lm.js'
import { initWeights, loadModel, newConfig, saveModel } from '../model/files.js'
import { renderPrompt, getTemplate } from '../reward/templates.js'
import { pretrain } from '../train/lm.js'
import { writeFileAtomic } from '../util/atomic.js'
import { Rng } from '../util/rng.js'
import type { WarmupRecord } from './warmup.js'

export interface PretrainConfig {
  seed: number
  hidden: number
  layers: number
  heads: number
  kvHeads: number
  intermediate: number
  bpeVocab: number
  steps: number
  lr: number
  batchSize: number
  seqLen: number
  template: string
}

export const DEFAULT_PRETRAIN: PretrainConfig = { seed: 0, hidden: 128, layers: 4, heads: 4, kvHeads: 2, intermediate: 352, bpeVocab: 700, steps: 2000, lr: 1e-3, batchSize: 8, seqLen: 320, template: 'r1' }

/**
 * Format warm-up texts: atlas reading questions with their right answers in the template's format, a few
 * exchanges per text after one instruction (more answers per token read).
 */
export function formatWarmupTexts(qs: readonly WarmupRecord[], template: string, turns = 3): string[] {
  const t = getTemplate(template)
  // The answer names the option's text, which extraction maps to its letter: a model this small does not
  // learn the in-context lookup from text to letter in its pretraining budget (measured: letter accuracy
  // at chance after 2,500 steps), but it does learn to repeat the option its reasoning ended on.
  const answer = (r: WarmupRecord) => {
    const text = r.options[r.answer]!
    return t.answerFormat === 'r1' ? ` <think>${r.meta.fact}</think><answer>${text}</answer>` : t.answerFormat === 'boxed' ? ` ${r.meta.fact} The answer is \\boxed{${text}}.` : ` ${text}`
  }
  return Array.from({ length: Math.floor(qs.length / turns) }, (_, i) =>
    qs
      .slice(i * turns, (i + 1) * turns)
      .map((r, k) => {
        const text = renderPrompt(r, t).text
        // Later exchanges leave out the instruction when the prompt starts with it.
        return (k > 0 && text.startsWith(t.instruction) ? text.slice(t.instruction.length) : k > 0 ? `\n\n${text}` : text) + answer(r)
      })
      .join(''),
  )
}

/**
 * `medrl pretrain`: a byte-level BPE and a small Llama trained by next-token prediction on the corpus
 * (sentences packed into sequences) plus the format warm-up, from a fixed seed; saved in the Hugging Face
 * layout. Returns the loss curve.
 */
export async function pretrainBase(corpus: string[], warmup: readonly WarmupRecord[], out: string, c: PretrainConfig, onStep?: (s: number, loss: number) => void): Promise<number[]> {
  const warm = formatWarmupTexts(warmup, c.template)
  const tok0 = saveTrainedTokenizer(out, [...corpus, ...warm], c.bpeVocab)
  const eos = tok0.eos
  const config = newConfig({ arch: 'llama', hidden: c.hidden, layers: c.layers, heads: c.heads, kvHeads: c.kvHeads, intermediate: c.intermediate, vocab: tok0.size, eos: [eos], pad: tok0.pad, maxPositions: 1024 })
  saveModel(out, config, initWeights(config, c.seed))
  const tok = loadModel(out).tokenizer!
  // Corpus paragraphs packed into sequences of about seqLen tokens; warm-up examples each on their own.
  const paragraphs = corpus.map((s) => tok.encode(` ${s}`))
  const rng = new Rng(c.seed)
  const packed: number[][] = []
  const corpusTokens = paragraphs.reduce((a, s) => a + s.length, 0)
  for (let i = 0; i < Math.max(64, warm.length, Math.ceil((corpusTokens * 4) / c.seqLen)); i++) {
    const seq: number[] = []
    while (seq.length < c.seqLen) seq.push(...paragraphs[rng.int(paragraphs.length)]!)
    packed.push(seq.slice(0, c.seqLen + 1))
  }
  const warmSeqs = warm.map((t) => [...tok.encode(t), eos])
  const model = new CausalLM(config, loadModel(out).model.weights)
  const losses = await pretrain(model, [...packed, ...warmSeqs], { steps: c.steps, lr: c.lr, batchSize: c.batchSize, maxLen: Math.max(c.seqLen, ...warmSeqs.map((w) => w.length)), seed: c.seed, onStep })
  saveModel(out, config, model.weights)
  writeFileAtomic(join(out, 'pretrain.json'), `${JSON.stringify({ config: c, warmup_texts: warm.length, loss_first: losses[0], loss_last: losses[losses.length - 1] }, null, 2)}\n`)
  await model.dispose()
  return losses
}
