import { join } from 'node:path'
import type { QARecord } from '../data/record.js'
import { saveTrainedTokenizer } from '../model/bpe.js'
import { CausalLM } from '../model/causal-lm.js'
import { initWeights, loadModel, newConfig, saveModel } from '../model/files.js'
import { colorRuleTask } from './toy-task.js'
import { answerCompletion, renderPrompt, getTemplate } from '../reward/templates.js'
import { pretrain } from '../pretrain/lm.js'
import { writeFileAtomic } from '../util/atomic.js'
import { Rng } from '../util/rng.js'
import { DEFAULT_TEMPLATE } from '../defaults.js'

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
  /** Q&A examples on an unrelated toy task in the template's answer format (the clinical corpus has none). */
  formatWarmup: number
  /** Share of training sequences drawn from the warm-up questions (the rest: packed corpus statements). */
  warmupShare: number
  template: string
}

export const DEFAULT_PRETRAIN: PretrainConfig = { seed: 0, hidden: 128, layers: 4, heads: 4, kvHeads: 2, intermediate: 352, bpeVocab: 700, steps: 3000, lr: 1e-3, batchSize: 16, seqLen: 128, formatWarmup: 0, warmupShare: 0.6, template: DEFAULT_TEMPLATE.pretrain.name }

/** A record with its right answer in the template's format; the reasoning is `meta.rationale` when it has one. */
export function answeredText(r: QARecord, template: string): string {
  const t = getTemplate(template)
  return renderPrompt(r, t).text + answerCompletion(r, t, typeof r.meta.rationale === 'string' ? r.meta.rationale : '')
}

/** Format warm-up: the colour-card toy questions, the rule stated as the reasoning, with right answers. */
export function formatWarmupTexts(n: number, template: string, seed: number): string[] {
  const text = getTemplate(template).answerWith === 'text'
  return colorRuleTask(n, seed + 1).map((r) => {
    const rationale = `The ${String(r.meta.color)} card names ${text ? `the ${r.options[r.answer]!}` : `option ${r.answer}`}.`
    return answeredText({ ...r, meta: { ...r.meta, rationale } }, template)
  })
}

/**
 * `medrl pretrain`: a byte-level BPE and a small Llama trained by next-token prediction on the corpus
 * (sentences packed into sequences) plus the format warm-up, from a fixed seed; saved in the Hugging Face
 * layout. Returns the loss curve.
 */
export async function pretrainBase(corpus: string[], out: string, c: PretrainConfig, onStep?: (s: number, loss: number) => void, answered: QARecord[] = []): Promise<number[]> {
  const warm = [...formatWarmupTexts(c.formatWarmup, c.template, c.seed), ...answered.map((r) => answeredText(r, c.template))]
  const tok0 = saveTrainedTokenizer(out, [...corpus, ...warm], c.bpeVocab)
  const eos = tok0.eos
  const config = newConfig({ arch: 'llama', hidden: c.hidden, layers: c.layers, heads: c.heads, kvHeads: c.kvHeads, intermediate: c.intermediate, vocab: tok0.size, eos: [eos], pad: tok0.pad, maxPositions: 1024 })
  saveModel(out, config, initWeights(config, c.seed))
  const tok = loadModel(out).tokenizer!
  // Corpus sentences packed into sequences of about seqLen tokens; warm-up examples each on their own.
  const sentences = corpus.map((s) => tok.encode(` ${s}`))
  const rng = new Rng(c.seed)
  const packed: number[][] = []
  // Many packings of the statements (fresh orders), so the model learns the facts rather than the sequences;
  // as many as make the warm-up `warmupShare` of the draws. Reading a question (copying the name it asks
  // about into the reasoning) is learnt only when warm-up examples are frequent.
  const nPacked = warm.length === 0 ? c.steps * c.batchSize : Math.ceil((warm.length * (1 - c.warmupShare)) / c.warmupShare)
  for (let i = 0; i < Math.max(64, nPacked); i++) {
    const seq: number[] = []
    while (seq.length < c.seqLen) seq.push(...sentences[rng.int(sentences.length)]!)
    packed.push(seq.slice(0, c.seqLen + 1))
  }
  const warmSeqs = warm.map((t) => [...tok.encode(t), eos])
  const model = new CausalLM(config, loadModel(out).model.weights)
  const losses = await pretrain(model, [...packed, ...warmSeqs], { steps: c.steps, lr: c.lr, batchSize: c.batchSize, maxLen: c.seqLen * 2, seed: c.seed, onStep })
  saveModel(out, config, model.weights)
  writeFileAtomic(join(out, 'pretrain.json'), `${JSON.stringify({ config: c, loss_first: losses[0], loss_last: losses[losses.length - 1] }, null, 2)}\n`)
  await model.dispose()
  return losses
}
