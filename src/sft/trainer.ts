import { existsSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import YAML from 'yaml'
import { importFiles } from '../data/import.js'
import type { QARecord } from '../data/record.js'
import { AdamW, GradAccumulator, guardedStep, lrMultiplier } from '../engine/optim.js'
import type { CausalLM } from '../model/causal-lm.js'
import { loadModel, withAdapters } from '../model/files.js'
import type { TextTokenizer } from '../model/tokenizer.js'
import { answerCompletion, getTemplate, renderPrompt, type PromptTemplate } from '../reward/templates.js'
import { lastCheckpointDir, loadCheckpoint, saveCheckpoint, truncateRunLogs, type TrainerState } from '../rl/checkpoint.js'
import { takePrompts } from '../rl/step/rollout.js'
import { chunks, padPromptResponse } from '../rl/step/sequences.js'
import { writeFileAtomic } from '../util/atomic.js'
import { JsonlLog } from '../util/jsonl-log.js'
import { hashString32 } from '../util/rng.js'
import type { SftConfig } from './config.js'

/** One supervised example: prompt tokens, then the target tokens (ending with EOS) that the loss is on. */
interface Example {
  prompt: number[]
  target: number[]
}

/** Prompt + target of a record as the template renders it; options shuffled per visit when configured. */
function toExample(r: QARecord, template: PromptTemplate, tok: TextTokenizer, eos: number, cfg: SftConfig, visit: number): Example {
  const p = renderPrompt(r, template, cfg.data.shuffle_options ? { shuffleSeed: hashString32(`${cfg.seed}:visit:${visit}`) } : {})
  const reasoning = cfg.data.target === 'reasoning' && typeof r.meta.rationale === 'string' ? r.meta.rationale : ''
  return { prompt: tok.encode(p.text, { addSpecialTokens: true }), target: [...tok.encode(answerCompletion(p.record, template, reasoning)), eos] }
}

/** A next-token batch in the RL step's layout (prompts left-padded, targets right-padded as responses), the loss on target tokens only. */
function toBatch(xs: readonly Example[], pad: number) {
  const { seq } = padPromptResponse(xs.map((x) => ({ prompt: x.prompt, response: x.target })), pad)
  return { ids: seq.ids, targets: seq.targets, start: seq.start, attention: seq.attention, lossMask: seq.responseMask, tokens: xs.reduce((a, x) => a + x.prompt.length + x.target.length, 0) }
}

/** Mean negative log-likelihood of the target tokens over examples (no gradients). */
async function heldOutLoss(model: CausalLM, xs: readonly Example[], micro: number, pad: number): Promise<number> {
  let nll = 0
  let count = 0
  for (const idx of chunks([...xs.keys()], micro)) {
    const b = toBatch(idx.map((i) => xs[i]!), pad)
    const lp = (await model.tokenLogProbs(b)).data as Float32Array
    const K = b.targets[0]!.length
    b.lossMask.forEach((row, i) =>
      row.forEach((m, t) => {
        if (m) {
          nll -= lp[i * K + t]!
          count++
        }
      }),
    )
  }
  return nll / Math.max(1, count)
}

export interface SftOptions {
  resume?: boolean
  onStep?: (step: number, data: Record<string, number>) => void
  /** Stop after this step (tests of interruption); the run can be resumed. */
  stopAfter?: number
  info?: (msg: string) => void
}

/**
 * Supervised fine-tuning on question → answer completions: the loss on the target tokens only, AdamW with
 * the configured schedule, gradient accumulation over micro-batches, held-out loss every eval_steps,
 * checkpoints in the Hugging Face layout. A resumed run continues from its last checkpoint and gives the
 * same metrics and weights as an uninterrupted one. The run directory has the layout of `medrl train`'s.
 */
export async function sft(cfg: SftConfig, runDir: string, opts: SftOptions = {}): Promise<{ steps: number; lastCheckpoint: string | null }> {
  const info = opts.info ?? (() => {})
  const template = getTemplate(cfg.data.template)
  if (!existsSync(join(cfg.model.path, 'config.json'))) throw new Error(`model.path ${cfg.model.path}: no config.json there (give a Hugging Face model directory)`)
  const { records } = await importFiles(cfg.data.files)
  if (records.length === 0) throw new Error('data.files hold no records')
  const val = cfg.data.val_files.length > 0 ? (await importFiles(cfg.data.val_files)).records : []
  mkdirSync(runDir, { recursive: true })
  writeFileAtomic(join(runDir, 'config.yaml'), YAML.stringify(cfg))

  const resumeFrom = opts.resume ? lastCheckpointDir(runDir) : null
  const lora = cfg.model.lora
  // With LoRA, the base loads as it is and the adapters come from the checkpoint (or start as PEFT starts them).
  const loaded = loadModel(lora ? cfg.model.path : (resumeFrom ?? cfg.model.path))
  const tok = loaded.tokenizer ?? (() => {
    throw new Error(`${cfg.model.path}: SFT needs a tokenizer (tokenizer.json)`)
  })()
  const eos = loaded.config.eos_token_id[0] ?? tok.eosId
  if (eos === null || eos === undefined) throw new Error(`${cfg.model.path}: no EOS token (config.json eos_token_id or the tokenizer's eos_token): a target must end`)
  const pad = loaded.config.pad_token_id ?? 0
  const fits = (r: QARecord) => {
    const x = toExample(r, template, tok, eos, cfg, 0)
    return x.prompt.length + x.target.length <= cfg.data.max_length
  }
  const train = records.filter(fits)
  if (train.length < records.length) info(`${records.length - train.length} of ${records.length} training examples are longer than data.max_length (${cfg.data.max_length} tokens): left out`)
  if (train.length === 0) throw new Error(`every training example is longer than data.max_length (${cfg.data.max_length} tokens)`)
  const valExamples = val.filter(fits).map((r) => toExample(r, template, tok, eos, cfg, 0))

  const ckpt = resumeFrom ? loadCheckpoint(resumeFrom) : null
  const optimizer = new AdamW({ weightDecay: cfg.optim.weight_decay })
  if (ckpt) optimizer.loadState(ckpt.optimizer)
  const state: TrainerState = ckpt?.state ?? { step: 0, epoch: 0, position: 0, optimizer: { kind: 'adamw', step: 0, hyper: {} } }
  truncateRunLogs(runDir, state.step)
  const metricsLog = new JsonlLog<{ step: number; data: Record<string, number> }>(join(runDir, 'metrics.jsonl'))
  if (resumeFrom) info(`resuming at step ${state.step} from ${resumeFrom}`)
  const model = lora ? withAdapters(loaded, lora, 'model.lora', resumeFrom, cfg.seed) : loaded.model
  let lastCheckpoint = resumeFrom
  // Kept from step to step: the gradient sums' memory is touched once.
  const acc = new GradAccumulator()
  try {
    for (let step = state.step + 1; step <= cfg.total_steps; step++) {
      const t0 = performance.now()
      const epoch = state.epoch
      const batch = takePrompts(train, state, cfg.optim.train_batch_size, cfg.seed, cfg.data.shuffle).map((r) => toExample(r, template, tok, eos, cfg, epoch))
      const lr = cfg.optim.learning_rate * lrMultiplier({ name: cfg.optim.lr_scheduler, warmupSteps: cfg.optim.warmup_steps, totalSteps: cfg.total_steps }, step - 1)
      let loss = 0
      let tokenAcc = 0
      let tokens = 0
      const micro = chunks([...batch.keys()], cfg.optim.micro_batch_size)
      for (const idx of micro) {
        const b = toBatch(idx.map((i) => batch[i]!), pad)
        const r = await model.lossAndGrads({ ...b, tokenAccuracy: true })
        // Each micro-batch's mean loss weighs as its share of the batch (the micro-batches are equal in size).
        acc.add(r.grads, 1 / micro.length, r.gradNorm)
        loss += r.loss / micro.length
        tokenAcc += r.tokenAccuracy! / micro.length
        tokens += b.tokens
      }
      const { grads, gradNorm } = acc.takeWithNorm()
      const norm = guardedStep({ step, loss, grads, gradNorm, params: model.buffers(), optimizer, lr, maxGradNorm: cfg.optim.max_grad_norm })
      const data: Record<string, number> = { 'train/loss': loss, 'train/token_accuracy': tokenAcc, 'train/lr': lr, 'train/grad_norm': norm.gradNorm, 'train/epoch': state.epoch + state.position / train.length }
      if (valExamples.length > 0 && cfg.trainer.eval_steps > 0 && (step % cfg.trainer.eval_steps === 0 || step === cfg.total_steps)) data['val/loss'] = await heldOutLoss(model, valExamples, cfg.optim.micro_batch_size, pad)
      const wall = (performance.now() - t0) / 1000
      data['time/step'] = wall
      data['perf/tokens_per_s'] = tokens / wall
      metricsLog.append([{ step, data }])
      opts.onStep?.(step, data)
      state.step = step
      const optState = optimizer.state()
      state.optimizer = { kind: optState.kind, step: optState.step, hyper: optState.hyper }
      const stop = opts.stopAfter !== undefined && step >= opts.stopAfter
      if ((cfg.trainer.save_steps > 0 && step % cfg.trainer.save_steps === 0) || step === cfg.total_steps || stop) {
        lastCheckpoint = saveCheckpoint(runDir, { step, config: loaded.config, weights: model.weights, adapters: model.adapters, baseModel: resolve(cfg.model.path), valueHead: null, optimizer: optState, state: { ...state }, tokenizerFrom: cfg.model.path, dtype: cfg.trainer.checkpoint_dtype, keep: cfg.trainer.save_total_limit })
      }
      if (stop) break
    }
  } finally {
    metricsLog.close()
    await model.dispose()
  }
  return { steps: state.step, lastCheckpoint }
}
