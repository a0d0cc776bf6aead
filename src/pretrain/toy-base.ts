import { readdirSync, renameSync, rmSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { QARecord } from '../data/record.js'
import { saveTrainedTokenizer } from '../model/bpe.js'
import { CausalLM } from '../model/causal-lm.js'
import { initWeights, loadModel, newConfig, saveModel } from '../model/files.js'
import { answerCompletion, renderPrompt, type PromptTemplate } from '../reward/templates.js'
import { pretrain } from './lm.js'
import { Rng } from '../util/rng.js'

/** The shape and pretraining of a toy base (a training config's model.init). */
export interface ToyBaseInit {
  arch: 'llama' | 'qwen2'
  hidden: number
  layers: number
  heads: number
  kv_heads: number
  intermediate: number
  bpe_vocab: number
  seed: number
  pretrain_steps: number
  pretrain_learning_rate: number
  pretrain_correct_share: number
}

/** The completion a toy base learns for an answer letter (right or not), in the template's format. */
function answerText(template: PromptTemplate, r: QARecord, letter: string): string {
  return answerCompletion({ ...r, answer: letter as QARecord['answer'] }, template, template.answerFormat === 'r1' ? 'The card decides.' : '')
}

/**
 * A tiny base model for a toy task (`model.init`): a BPE trained on the task's prompts, random weights,
 * then next-token pretraining on prompts followed by answers in the template's format, right only for a
 * share of them: the base knows the format and half-knows the rule, and RL has to sharpen it.
 * Built under a temporary name and renamed once pretrained: a kill midway never leaves a base that looks finished.
 */
export async function buildToyBase(init: ToyBaseInit, records: readonly QARecord[], template: PromptTemplate, finalDir: string, info: (m: string) => void): Promise<void> {
  for (const stale of readdirSync(dirname(finalDir)).filter((n) => n.startsWith(`${basename(finalDir)}.tmp-`))) rmSync(join(dirname(finalDir), stale), { recursive: true, force: true })
  const dir = `${finalDir}.tmp-${process.pid}`
  const rng = new Rng(init.seed)
  const texts = records.map((r) => renderPrompt(r, template).text + answerText(template, r, rng.next() < init.pretrain_correct_share ? r.answer : 'ABCD'[rng.int(4)]!))
  const tok0 = saveTrainedTokenizer(dir, texts, init.bpe_vocab)
  const config = newConfig({ arch: init.arch, hidden: init.hidden, layers: init.layers, heads: init.heads, kvHeads: init.kv_heads, intermediate: init.intermediate, vocab: tok0.size, eos: [tok0.eos], pad: tok0.pad, maxPositions: 1024 })
  const model = new CausalLM(config, initWeights(config, init.seed))
  saveModel(dir, config, model.weights)
  const tok = loadModel(dir).tokenizer!
  const seqs = texts.map((t) => [...tok.encode(t), tok0.eos])
  if (init.pretrain_steps > 0) {
    const losses = await pretrain(model, seqs, { steps: init.pretrain_steps, lr: init.pretrain_learning_rate, seed: init.seed, batchSize: 16 })
    info(`toy model pretrained: loss ${losses[0]!.toFixed(3)} → ${losses[losses.length - 1]!.toFixed(3)}`)
  }
  saveModel(dir, config, model.weights)
  await model.dispose()
  renameSync(dir, finalDir)
}
