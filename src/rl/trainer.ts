import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import YAML from 'yaml'
import { importFiles } from '../data/import.js'
import { dataLengths } from '../data/stats.js'
import type { QARecord } from '../data/record.js'
import { AdamW, GradAccumulator, globalNorm, guardedStep, lrMultiplier } from '../engine/optim.js'
import { DEFAULT_GEN, Generator, type GenOutput } from '../generate/generator.js'
import { SPECIAL_TOKENS, saveTrainedTokenizer } from '../model/bpe.js'
import { CausalLM } from '../model/causal-lm.js'
import { initWeights, loadModel, newConfig, saveModel, type LoadedModel } from '../model/files.js'
import type { TextTokenizer } from '../model/tokenizer.js'
import { resolveReward, type RewardFn, type RewardResult } from '../reward/rewards.js'
import { classifyStage, type Stage } from '../reward/stages.js'
import { getTemplate, renderPrompt, type PromptTemplate } from '../reward/templates.js'
import { pretrain } from '../train/lm.js'
import { writeFileAtomic } from '../util/atomic.js'
import { JsonlLog } from '../util/jsonl-log.js'
import { Rng, hashString32 } from '../util/rng.js'
import { Actor, type SeqBatch } from './actor.js'
import { getAdvantage } from './advantages.js'
import { checkpointName, listCheckpoints, loadCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint.js'
import type { TrainConfig } from './config.js'
import { getKlEstimator } from './kl.js'
import { rolloutMetrics, type ScoredRollout } from './rollout-metrics.js'
import { mean } from '../util/stats.js'
import { colorRuleTask } from './toy-task.js'

export { mentionsBeforeAnswer } from './rollout-metrics.js'

export interface StepLog {
  step: number
  data: Record<string, number>
}

interface Rollout {
  record: QARecord
  group: number
  prompt: number[]
  out: GenOutput
  reward: RewardResult
  stage: string | null
}

export interface TrainOptions {
  /** Called after every step with its metrics (for progress displays). */
  onStep?: (log: StepLog) => void
  /** Stop after this step (tests of interruption); the run can be resumed. */
  stopAfter?: number
  info?: (msg: string) => void
}

function bucket(n: number, k = 16): number {
  return Math.ceil(n / k) * k
}

/** Data for a run: the configured files, or a built-in toy task. */
async function loadData(cfg: TrainConfig): Promise<QARecord[]> {
  if (cfg.data.task) return colorRuleTask(cfg.data.task.size, cfg.data.task.seed)
  const { records } = await importFiles(cfg.data.files)
  if (records.length === 0) throw new Error('data.files hold no records')
  return records
}

/**
 * A tiny model for a toy task: a BPE trained on the task's prompts, random weights, then next-token
 * pretraining on prompts followed by answers in the template's format, right only for a share of them: the
 * base model knows the format and half-knows the rule, and RL has to sharpen it.
 */
async function buildToyModel(cfg: TrainConfig, records: QARecord[], template: PromptTemplate, finalDir: string, info: (m: string) => void): Promise<void> {
  const init = cfg.model.init!
  // Built under a temporary name and renamed once pretrained: a kill midway never leaves a base that looks finished.
  for (const stale of readdirSync(dirname(finalDir)).filter((n) => n.startsWith(`${basename(finalDir)}.tmp-`))) rmSync(join(dirname(finalDir), stale), { recursive: true, force: true })
  const dir = `${finalDir}.tmp-${process.pid}`
  const rng = new Rng(init.seed)
  const answerText = (r: QARecord, letter: string) => (template.answerFormat === 'r1' ? ` <think>The card decides.</think><answer>${letter}</answer>` : template.answerFormat === 'boxed' ? ` The answer is \\boxed{${letter}}.` : ` ${letter}`)
  const texts = records.map((r) => renderPrompt(r, template).text + answerText(r, rng.next() < init.pretrain_correct_share ? r.answer : 'ABCD'[rng.int(4)]!))
  const tok0 = saveTrainedTokenizer(dir, texts, init.bpe_vocab)
  const eos = tok0.eos
  const pad = tok0.pad
  const config = newConfig({ arch: init.arch, hidden: init.hidden, layers: init.layers, heads: init.heads, kvHeads: init.kv_heads, intermediate: init.intermediate, vocab: tok0.size, eos: [eos], pad, maxPositions: 1024 })
  const model = new CausalLM(config, initWeights(config, init.seed))
  saveModel(dir, config, model.weights)
  const tok = loadModel(dir).tokenizer!
  const seqs = texts.map((t) => [...tok.encode(t), eos])
  if (init.pretrain_steps > 0) {
    const losses = await pretrain(model, seqs, { steps: init.pretrain_steps, lr: init.pretrain_lr, seed: init.seed, batchSize: 16 })
    info(`toy model pretrained: loss ${losses[0]!.toFixed(3)} → ${losses[losses.length - 1]!.toFixed(3)}`)
  }
  saveModel(dir, config, model.weights)
  await model.dispose()
  renameSync(dir, finalDir)
}

/** The prompts of one step: the next `n` of the epoch's seeded order, crossing into the next epoch. */
function takePrompts(records: readonly QARecord[], state: TrainerState, n: number, seed: number, shuffle: boolean): QARecord[] {
  const out: QARecord[] = []
  while (out.length < n) {
    const order = shuffle ? new Rng(hashString32(`${seed}:epoch:${state.epoch}`)).shuffle([...records.keys()]) : [...records.keys()]
    while (out.length < n && state.position < order.length) out.push(records[order[state.position++]!]!)
    if (state.position >= order.length) {
      state.epoch++
      state.position = 0
    }
  }
  return out
}

/**
 * GRPO / PPO training. The loop: prompts → rollouts (embedded engine) → rewards → old and reference
 * log-probs (and values) → advantages → policy (and value) updates → metrics → checkpoints. Every stage is
 * timed. A run directory holds config.yaml (resolved), metrics.jsonl, samples.jsonl and checkpoints/;
 * `resume` continues from the last checkpoint and gives the same metrics and weights as an uninterrupted run.
 */
export async function train(cfg: TrainConfig, runDir: string, opts: TrainOptions & { resume?: boolean } = {}): Promise<{ steps: number; lastCheckpoint: string | null }> {
  const info = opts.info ?? (() => {})
  // What can be wrong with the inputs is found before anything is written.
  const template = getTemplate(cfg.data.template)
  if (cfg.model.path !== undefined && !existsSync(join(cfg.model.path, 'config.json'))) throw new Error(`model.path ${cfg.model.path}: no config.json there (give a Hugging Face model directory)`)
  const records = await loadData(cfg)
  mkdirSync(runDir, { recursive: true })
  writeFileAtomic(join(runDir, 'config.yaml'), YAML.stringify(cfg))
  // Question lengths by source, for the report's length chart (AlphaMed Figure 2, right).
  writeFileAtomic(join(runDir, 'data_lengths.json'), JSON.stringify(dataLengths(records)))
  const baseDir = cfg.model.path ?? join(runDir, 'base')
  if (!cfg.model.path && !existsSync(join(baseDir, 'config.json'))) await buildToyModel(cfg, records, template, baseDir, info)

  // Start: the base model, or the last checkpoint.
  const ckpts = opts.resume ? listCheckpoints(runDir) : []
  const resumeFrom = ckpts.length > 0 ? join(runDir, 'checkpoints', checkpointName(ckpts[ckpts.length - 1]!)) : null
  if (opts.resume && !resumeFrom) info('no checkpoint yet: starting from the beginning')
  const loaded: LoadedModel = loadModel(resumeFrom ?? baseDir)
  const tokenizer: TextTokenizer = loaded.tokenizer ?? (() => {
    throw new Error(`${baseDir}: RL needs a tokenizer (rewards read text)`)
  })()
  const ckpt = resumeFrom ? loadCheckpoint(resumeFrom) : null
  const isPpo = cfg.algorithm === 'ppo'
  const estimatorName = cfg.advantage.estimator ?? (isPpo ? 'gae' : 'grpo')
  const estimator = getAdvantage(estimatorName)
  const klInReward = cfg.kl.use_kl_in_reward ?? isPpo
  const needRef = cfg.kl.kl_coef > 0
  const actor = new Actor(
    loaded.model,
    {
      policyLoss: cfg.actor.policy_loss,
      clipRatioLow: cfg.actor.clip_ratio_low,
      clipRatioHigh: cfg.actor.clip_ratio_high,
      clipRatioC: cfg.actor.clip_ratio_c,
      aggMode: cfg.actor.loss_agg_mode,
      aggNorm: cfg.rollout.max_new_tokens,
      entropyCoeff: cfg.actor.entropy_coeff,
      klLossCoef: needRef && !klInReward ? cfg.kl.kl_coef : 0,
      klEstimator: cfg.kl.kl_estimator,
      vfCoef: estimatorName === 'gae' ? cfg.critic.vf_coef : null,
      cliprangeValue: cfg.critic.cliprange_value,
    },
    ckpt?.valueHead ?? undefined,
  )
  const ref = needRef ? loadModel(baseDir).model : null
  const optimizer = new AdamW({ lr: cfg.actor.learning_rate, weightDecay: cfg.actor.weight_decay })
  if (ckpt) optimizer.loadState(ckpt.optimizer)
  const reward: RewardFn = resolveReward(cfg.data.reward)
  const rewardCtx = { format: template.answerFormat, completionPrefix: template.completionPrefix }
  const eos = [...new Set([...loaded.config.eos_token_id, ...(tokenizer.eosId !== null ? [tokenizer.eosId] : []), ...[tokenizer.tokenToId(SPECIAL_TOKENS.imEnd)].filter((x): x is number => x !== undefined)])]
  const generator = new Generator(actor.model, tokenizer, { eosIds: eos, maxBatch: 256 })
  const state: TrainerState = ckpt?.state ?? { step: 0, epoch: 0, position: 0, optimizer: { kind: 'adamw', step: 0, hyper: {} } }
  const startStep = state.step
  // Logs: drop lines written after the checkpoint we resume from (the interrupted tail).
  for (const name of ['metrics.jsonl', 'samples.jsonl']) {
    const log = new JsonlLog<{ step: number }>(join(runDir, name))
    log.close()
    if (log.rows.some((r) => r.step > startStep)) writeFileAtomic(log.path, log.rows.filter((r) => r.step <= startStep).map((r) => `${JSON.stringify(r)}\n`).join(''))
  }
  const metricsLog = new JsonlLog<StepLog>(join(runDir, 'metrics.jsonl'))
  const samplesLog = new JsonlLog<Record<string, unknown>>(join(runDir, 'samples.jsonl'))
  if (resumeFrom) info(`resuming at step ${startStep} from ${resumeFrom}`)
  const chat = cfg.data.chat && tokenizer.chat ? tokenizer.chat : undefined
  let lastCheckpoint: string | null = resumeFrom

  const promptIds = (r: QARecord) => {
    const p = renderPrompt(r, template, chat ? { chat } : {})
    return { ids: tokenizer.encode(p.text, { addSpecialTokens: !chat }), record: p.record }
  }

  // Prompts longer than data.max_prompt_length tokens are left out, as verl's filter_overlong_prompts does.
  const fits = (rs: readonly QARecord[], what: string) => {
    const kept = rs.filter((r) => promptIds(r).ids.length <= cfg.data.max_prompt_length)
    if (kept.length < rs.length) info(`${rs.length - kept.length} of ${rs.length} ${what} prompts are longer than data.max_prompt_length (${cfg.data.max_prompt_length} tokens): left out`)
    if (kept.length === 0 && rs.length > 0) throw new Error(`every ${what} prompt is longer than data.max_prompt_length (${cfg.data.max_prompt_length} tokens)`)
    return kept
  }
  const trainRecords = fits(records, 'training')
  const valRecords = cfg.trainer.eval_steps > 0 && cfg.data.val_files.length > 0 ? fits((await importFiles(cfg.data.val_files)).records, 'validation') : []

  /** Greedy accuracy and reward on the validation questions, overall and per source (as verl's val-core metrics). */
  async function validate(): Promise<Record<string, number>> {
    const rendered = valRecords.map(promptIds)
    const outs = await generator.generate(rendered.map((p) => ({ prompt: p.ids, params: { ...DEFAULT_GEN, maxNewTokens: cfg.rollout.max_new_tokens, n: 1, temperature: 0 } })))
    const scored = outs.map((o, i) => ({ source: rendered[i]!.record.source, r: reward(o[0]!.text, rendered[i]!.record, rewardCtx) }))
    const data: Record<string, number> = { 'val/accuracy': mean(scored.map((x) => (x.r.correct ? 1 : 0))), 'val/reward': mean(scored.map((x) => x.r.reward)) }
    for (const src of new Set(scored.map((x) => x.source))) data[`val/accuracy/${src}`] = mean(scored.filter((x) => x.source === src).map((x) => (x.r.correct ? 1 : 0)))
    return data
  }

  async function rollouts(prompts: QARecord[], step: number, round: number, groupBase: number): Promise<Rollout[]> {
    const rendered = prompts.map(promptIds)
    const outs = await generator.generate(
      rendered.map((p, i) => ({
        prompt: p.ids,
        params: { ...DEFAULT_GEN, maxNewTokens: cfg.rollout.max_new_tokens, n: cfg.rollout.num_generations, temperature: cfg.rollout.temperature, topP: cfg.rollout.top_p, seed: hashString32(`${cfg.seed}:${step}:${round}:${i}`) },
      })),
    )
    return outs.flatMap((samplesOf, i) =>
      samplesOf.map((out) => {
        const rec = rendered[i]!.record
        const rr = reward(out.text, rec, rewardCtx)
        return { record: rec, group: groupBase + i, prompt: rendered[i]!.ids, out, reward: rr, stage: template.answerFormat === 'r1' ? classifyStage(out.text, rec, { prefix: template.completionPrefix }) : null }
      }),
    )
  }

  for (let step = startStep + 1; step <= cfg.total_steps; step++) {
    const t0 = performance.now()
    const times: Record<string, number> = {}
    const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
      const s = performance.now()
      const r = await f()
      times[name] = (times[name] ?? 0) + (performance.now() - s) / 1000
      return r
    }
    // 1. Rollouts (with DAPO's dynamic sampling: keep only groups whose rewards differ).
    const n = cfg.rollout.num_generations
    let groups: Rollout[][] = []
    const allGroups: Rollout[][] = []
    let round = 0
    for (;;) {
      const prompts = takePrompts(trainRecords, state, cfg.rollout.train_batch_size, cfg.seed, cfg.data.shuffle)
      const rs = await timed('generate', () => rollouts(prompts, step, round, allGroups.length))
      const byGroup: Rollout[][] = []
      for (let i = 0; i < prompts.length; i++) byGroup.push(rs.slice(i * n, (i + 1) * n))
      allGroups.push(...byGroup)
      const informative = (g: Rollout[]) => new Set(g.map((r) => r.reward.reward)).size > 1
      groups.push(...(cfg.rollout.dynamic_sampling ? byGroup.filter(informative) : byGroup))
      if (!cfg.rollout.dynamic_sampling || groups.length >= cfg.rollout.train_batch_size || round >= cfg.rollout.max_resample_rounds) break
      round++
    }
    groups = groups.slice(0, cfg.rollout.train_batch_size)
    if (groups.length === 0) groups = allGroups.slice(0, cfg.rollout.train_batch_size) // nothing informative: train on what there is
    const rows = groups.flat()

    // 2. Sequences: prompt + response, right-padded.
    const lens = rows.map((r) => r.prompt.length + r.out.tokenIds.length - 1)
    const T = bucket(Math.max(...lens))
    const pad = loaded.config.pad_token_id ?? 0
    const seq: SeqBatch = { ids: [], attention: [], targets: [], responseMask: [] }
    for (const r of rows) {
      const full = [...r.prompt, ...r.out.tokenIds]
      const len = full.length - 1
      const fill = (xs: number[], v: number) => [...xs, ...new Array<number>(T - xs.length).fill(v)]
      seq.ids.push(fill(full.slice(0, -1), pad))
      seq.targets.push(fill(full.slice(1), pad))
      seq.attention.push(Array.from({ length: T }, (_, t) => (t < len ? 1 : 0)))
      seq.responseMask.push(Array.from({ length: T }, (_, t) => (t >= r.prompt.length - 1 && t < len ? 1 : 0)))
    }
    const micro = cfg.actor.micro_batch_size
    const sub = (idx: number[]): SeqBatch => ({ ids: idx.map((i) => seq.ids[i]!), attention: idx.map((i) => seq.attention[i]!), targets: idx.map((i) => seq.targets[i]!), responseMask: idx.map((i) => seq.responseMask[i]!) })
    const rowsIdx = rows.map((_, i) => i)
    const toRows = (flat: Float32Array, count: number) => Array.from({ length: count }, (_, i) => Array.from(flat.subarray(i * T, (i + 1) * T)))

    // 3. Old log-probs (and values), reference log-probs.
    let oldLogProbs: number[][] = []
    let values: number[][] | undefined
    if (cfg.actor.recompute_old_log_probs || actor.valueHead) {
      await timed('old_log_probs', async () => {
        for (let s = 0; s < rows.length; s += micro) {
          const idx = rowsIdx.slice(s, s + micro)
          const r = await actor.score(sub(idx))
          oldLogProbs.push(...toRows(r.logProbs, idx.length))
          if (r.values) (values ??= []).push(...toRows(r.values, idx.length))
        }
      })
    }
    if (!cfg.actor.recompute_old_log_probs) {
      oldLogProbs = rows.map((r) => Array.from({ length: T }, (_, t) => (t >= r.prompt.length - 1 && t < r.prompt.length - 1 + r.out.tokenIds.length ? r.out.modelLogprobs[t - (r.prompt.length - 1)]! : 0)))
    }
    let refLogProbs: number[][] | undefined
    if (ref) {
      await timed('reference', async () => {
        refLogProbs = []
        for (let s = 0; s < rows.length; s += micro) {
          const b = sub(rowsIdx.slice(s, s + micro))
          const lp = await ref.tokenLogProbs({ ids: b.ids, attention: b.attention, targets: b.targets })
          refLogProbs.push(...toRows(lp.data as Float32Array, b.ids.length))
        }
      })
    }

    // 4. Advantages (a per-token KL penalty folded into the reward for PPO).
    const klFn = getKlEstimator(cfg.kl.kl_estimator).host
    const tokenKl = refLogProbs ? seq.responseMask.map((m, i) => m.map((x, t) => (x ? klFn(oldLogProbs[i]![t]!, refLogProbs![i]![t]!) : 0))) : undefined
    const adv = estimator({
      scores: rows.map((r) => r.reward.reward),
      groups: rows.map((r) => r.group),
      responseMask: seq.responseMask,
      tokenRewards: klInReward && tokenKl ? tokenKl.map((row) => row.map((k) => -cfg.kl.kl_coef * k)) : undefined,
      values: values?.map((row, i) => row.map((v, t) => (seq.responseMask[i]![t] ? v : 0))),
      gamma: cfg.advantage.gamma,
      lam: cfg.advantage.lam,
      scaleRewards: cfg.advantage.scale_rewards,
      whiten: cfg.advantage.whiten,
    })

    // 5. Updates: epochs × mini-batches × micro-batches (gradients accumulate within a mini-batch).
    const upd: Record<string, number[]> = {}
    const lr = cfg.actor.learning_rate * lrMultiplier({ name: cfg.actor.lr_scheduler, warmupSteps: cfg.actor.warmup_steps, totalSteps: cfg.total_steps }, step - 1)
    await timed('update', async () => {
      for (let epoch = 0; epoch < cfg.actor.ppo_epochs; epoch++) {
        const order = new Rng(hashString32(`${cfg.seed}:update:${step}:${epoch}`)).shuffle(rowsIdx)
        const mb = cfg.actor.mini_batch_size > 0 ? cfg.actor.mini_batch_size : order.length
        for (let m = 0; m < order.length; m += mb) {
          const mini = order.slice(m, m + mb)
          const acc = new GradAccumulator()
          let loss = 0
          for (let s = 0; s < mini.length; s += micro) {
            const idx = mini.slice(s, s + micro)
            const pick = (x: number[][]) => idx.map((i) => x[i]!)
            const r = await actor.lossAndGrads({
              ...sub(idx),
              oldLogProbs: pick(oldLogProbs),
              advantages: pick(adv.advantages),
              refLogProbs: refLogProbs && pick(refLogProbs),
              returns: adv.returns && pick(adv.returns),
              oldValues: values && pick(values),
              lossScale: idx.length / mini.length,
            })
            acc.add(r.grads)
            loss += r.loss
            for (const [k, v] of Object.entries(r.metrics)) (upd[k] ??= []).push(v)
          }
          const grads = acc.take()
          const norm = guardedStep({ step, loss, grads, gradNorm: globalNorm(grads), params: actor.buffers(), optimizer, lr, maxGradNorm: cfg.actor.max_grad_norm })
          ;(upd.grad_norm_step ??= []).push(norm.gradNorm)
        }
      }
    })

    // 6. Metrics: the rollout metrics every engine shares, then the update's.
    const scored = (r: Rollout): ScoredRollout => ({
      group: r.group,
      source: r.record.source,
      reward: r.reward.reward,
      correct: r.reward.correct,
      formatValid: r.reward.formatValid,
      stage: r.stage as Stage | null,
      completion: r.out.text,
      responseLength: r.out.tokenIds.length,
      truncated: r.out.finishReason === 'length',
      ...(typeof r.record.meta.intermediate === 'string' ? { intermediate: r.record.meta.intermediate } : {}),
    })
    const data: Record<string, number> = {
      ...rolloutMetrics(rows.map(scored), allGroups.map((g) => g.map(scored))),
      'actor/kl': tokenKl ? mean(tokenKl.flatMap((row, i) => row.filter((_, t) => seq.responseMask[i]![t]))) : 0,
      'actor/ppo_kl': mean(upd.ppo_kl ?? []),
      'actor/entropy': mean(upd.entropy ?? []),
      'actor/clipfrac': mean(upd.pg_clipfrac ?? []),
      'actor/pg_loss': mean(upd.pg_loss ?? []),
      'actor/grad_norm': mean(upd.grad_norm_step ?? []),
      'actor/lr': lr,
    }
    if (upd.vf_loss) {
      data['critic/value_loss'] = mean(upd.vf_loss)
      data['critic/vf_clipfrac'] = mean(upd.vf_clipfrac ?? [])
    }
    if (valRecords.length > 0 && (step % cfg.trainer.eval_steps === 0 || step === cfg.total_steps)) Object.assign(data, await timed('validate', validate))
    const wall = (performance.now() - t0) / 1000
    for (const [k, v] of Object.entries(times)) data[`time/${k}`] = v
    data['time/step'] = wall
    data['perf/tokens_per_s'] = (rows.reduce((a, r) => a + r.prompt.length + r.out.tokenIds.length, 0) * cfg.actor.ppo_epochs) / wall
    const log: StepLog = { step, data }
    metricsLog.append([log])
    const shown = rows.filter((_, i) => i % Math.max(1, Math.floor(rows.length / Math.max(1, cfg.trainer.log_samples))) === 0).slice(0, cfg.trainer.log_samples)
    samplesLog.append(shown.map((r) => ({ step, id: r.record.id, source: r.record.source, answer: r.record.answer, completion: r.out.text, extracted: r.reward.extracted, correct: r.reward.correct, reward: r.reward.reward, stage: r.stage })))
    opts.onStep?.(log)

    // 7. Checkpoint.
    state.step = step
    const optState = optimizer.state()
    state.optimizer = { kind: optState.kind, step: optState.step, hyper: optState.hyper }
    const stop = opts.stopAfter !== undefined && step >= opts.stopAfter
    if ((cfg.trainer.save_steps > 0 && step % cfg.trainer.save_steps === 0) || step === cfg.total_steps || stop) {
      lastCheckpoint = saveCheckpoint(runDir, { step, config: loaded.config, weights: actor.model.weights, valueHead: actor.valueHead, optimizer: optState, state: { ...state }, tokenizerFrom: baseDir, dtype: cfg.trainer.checkpoint_dtype, keep: cfg.trainer.save_total_limit })
    }
    if (stop) break
  }
  metricsLog.close()
  samplesLog.close()
  await actor.dispose()
  await ref?.dispose()
  return { steps: state.step, lastCheckpoint }
}

