import { existsSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import YAML from 'yaml'
import { importFiles } from '../data/import.js'
import { dataLengths } from '../data/stats.js'
import type { QARecord } from '../data/record.js'
import { AdamW, lrMultiplier } from '../engine/optim.js'
import { DEFAULT_GEN, Generator } from '../generate/generator.js'
import { SPECIAL_TOKENS } from '../model/bpe.js'
import { baseModelView, type TokenScorer } from '../model/causal-lm.js'
import { loadModel, withAdapters, type LoadedModel } from '../model/files.js'
import type { TextTokenizer } from '../model/tokenizer.js'
import { resolveReward, type RewardFn } from '../reward/rewards.js'
import { getTemplate, renderPrompt } from '../reward/templates.js'
import { writeFileAtomic } from '../util/atomic.js'
import { JsonlLog } from '../util/jsonl-log.js'
import { mean } from '../util/stats.js'
import { colorRuleTask } from '../synth/toy-task.js'
import { Actor } from './actor.js'
import { buildToyBase } from '../pretrain/toy-base.js'
import { checkpointName, listCheckpoints, loadCheckpoint, saveCheckpoint, truncateRunLogs, type TrainerState } from './checkpoint.js'
import type { TrainConfig } from './config.js'
import { parameterCount } from '../model/config.js'
import { computeAdvantages, tokenKlOf } from './step/advantage.js'
import { actorLogProbs, referenceLogProbs, samplerLogProbs } from './step/log-probs.js'
import { stepMetrics } from './step/metrics.js'
import { collectRollouts, type RolloutContext } from './step/rollout.js'
import { toSequences } from './step/sequences.js'
import { onPolicyUpdate, updateActor } from './step/update.js'

export { mentionsBeforeAnswer } from './rollout-metrics.js'

export interface StepLog {
  step: number
  data: Record<string, number>
}

export interface TrainOptions {
  /** Called after every step with its metrics (for progress displays). */
  onStep?: (log: StepLog) => void
  /** Stop after this step (tests of interruption); the run can be resumed. */
  stopAfter?: number
  info?: (msg: string) => void
}

/** Data for a run: the configured files, or a built-in toy task. */
async function loadData(cfg: TrainConfig): Promise<QARecord[]> {
  if (cfg.data.task) return colorRuleTask(cfg.data.task.size, cfg.data.task.seed)
  const { records } = await importFiles(cfg.data.files)
  if (records.length === 0) throw new Error('data.files hold no records')
  return records
}

export async function train(cfg: TrainConfig, runDir: string, opts: TrainOptions & { resume?: boolean } = {}): Promise<{ steps: number; lastCheckpoint: string | null }> {
  const info = opts.info ?? (() => {})
  // What can be wrong with the inputs is found before anything is written.
  const template = getTemplate(cfg.data.template)
  if (cfg.model.path !== undefined && !existsSync(join(cfg.model.path, 'config.json'))) throw new Error(`model.path ${cfg.model.path}: no config.json there (give a Hugging Face model directory)`)
  const records = await loadData(cfg)
  mkdirSync(runDir, { recursive: true })
  writeFileAtomic(join(runDir, 'config.yaml'), YAML.stringify(cfg))
  const baseDir = cfg.model.path ?? join(runDir, 'base')
  if (!cfg.model.path && !existsSync(join(baseDir, 'config.json'))) await buildToyBase(cfg.model.init!, records, template, baseDir, info)

  // Start: the base model, or the last checkpoint.
  const ckpts = opts.resume ? listCheckpoints(runDir) : []
  const resumeFrom = ckpts.length > 0 ? join(runDir, 'checkpoints', checkpointName(ckpts[ckpts.length - 1]!)) : null
  if (opts.resume && !resumeFrom) info('no checkpoint yet: starting from the beginning')
  const lora = cfg.actor.lora
  // With LoRA, the base loads as it is and the adapters come from the checkpoint (or start as PEFT starts them).
  const loaded: LoadedModel = loadModel(lora ? baseDir : (resumeFrom ?? baseDir))
  const tokenizer: TextTokenizer = loaded.tokenizer ?? (() => {
    throw new Error(`${baseDir}: RL needs a tokenizer (rewards read text)`)
  })()
  // Question lengths by source in the policy's tokens and in characters, for the report (AlphaMed Figure 2, right).
  writeFileAtomic(join(runDir, 'data_lengths.json'), JSON.stringify(dataLengths(records, (t) => tokenizer.encode(t).length)))
  const ckpt = resumeFrom ? loadCheckpoint(resumeFrom) : null
  const isPpo = cfg.algorithm === 'ppo'
  const estimatorName = cfg.advantage.estimator ?? (isPpo ? 'gae' : 'grpo')
  const klInReward = cfg.kl.use_kl_in_reward ?? isPpo
  const needRef = cfg.kl.kl_coef > 0
  if (lora && estimatorName === 'gae') throw new Error(`actor.lora with advantage.estimator gae: PPO's value head sits on the policy's last hidden state, so under LoRA the critic would be trained through the policy's adapters (and the head) alone; use grpo or rloo with LoRA, or train every weight for PPO`)
  const policy = lora ? withAdapters(loaded, lora, 'actor.lora', resumeFrom, cfg.seed) : loaded.model
  if (lora) info(`LoRA: rank ${policy.adapters!.spec.rank} on ${policy.adapters!.spec.modules.length} modules (${policy.adapters!.spec.targetModules.join(', ')}), ${Object.values(policy.trainableShapes()).reduce((a, sh) => a + sh.reduce((x, y) => x * y, 1), 0).toLocaleString('en-US')} trainable parameters; the base stays frozen`)
  const actor = new Actor(
    policy,
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
  // The reference: the base, frozen (under LoRA the same weights with the adapters off, no second copy).
  const ref: TokenScorer | null = needRef ? (lora ? baseModelView(policy) : loadModel(baseDir).model) : null
  const optimizer = new AdamW({ weightDecay: cfg.actor.weight_decay })
  if (ckpt) optimizer.loadState(ckpt.optimizer)
  const reward: RewardFn = resolveReward(cfg.data.reward)
  const rewardCtx = { format: template.answerFormat, completionPrefix: template.completionPrefix }
  const eos = [...new Set([...loaded.config.eos_token_id, ...(tokenizer.eosId !== null ? [tokenizer.eosId] : []), ...[tokenizer.tokenToId(SPECIAL_TOKENS.imEnd)].filter((x): x is number => x !== undefined)])]
  const generator = new Generator(actor.model, tokenizer, { eosIds: eos, maxBatch: 256 })
  const state: TrainerState = ckpt?.state ?? { step: 0, epoch: 0, position: 0, optimizer: { kind: 'adamw', step: 0, hyper: {} } }
  const startStep = state.step
  truncateRunLogs(runDir, startStep)
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

  const rolloutCtx: RolloutContext = { generator, promptIds, reward, template }
  const rp = cfg.trainer.release_programs
  const releaseBetweenPhases = rp === 'auto' ? parameterCount(loaded.config) >= 100e6 : rp

  for (let step = startStep + 1; step <= cfg.total_steps; step++) {
    const t0 = performance.now()
    const times: Record<string, number> = {}
    const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
      const s = performance.now()
      const r = await f()
      if (releaseBetweenPhases) {
        await actor.releasePrograms()
        await ref?.releasePrograms()
      }
      times[name] = (times[name] ?? 0) + (performance.now() - s) / 1000
      return r
    }
    // 1. Rollouts: sample, score (reward, stage); dynamic sampling keeps groups whose rewards differ.
    const { rows, allGroups } = await timed('generate', () => collectRollouts(rolloutCtx, cfg, trainRecords, state, step))
    // 2. Sequences: prompts left-padded, responses right-padded (verl's layout).
    const seqs = toSequences(rows, loaded.config.pad_token_id ?? 0)
    // 3. old_log_probs (and values) from the policy, unless the update is on-policy and finds them itself;
    //    ref_log_prob from the reference.
    const onPolicy = cfg.actor.on_policy_shortcut && onPolicyUpdate(cfg, rows.length, actor.valueHead !== null, klInReward && ref !== null)
    const recompute = !onPolicy && (cfg.actor.recompute_old_log_probs || actor.valueHead !== null)
    const scoredByActor = recompute ? await timed('old_log_probs', () => actorLogProbs(actor, seqs, cfg.actor.micro_batch_size)) : null
    const oldLogProbs = onPolicy ? undefined : cfg.actor.recompute_old_log_probs ? scoredByActor!.oldLogProbs : samplerLogProbs(rows, seqs.seq.targets[0]!.length)
    const values = scoredByActor?.values
    const refLogProbs = ref ? await timed('reference', () => referenceLogProbs(ref, seqs, cfg.actor.micro_batch_size)) : undefined
    // 4. Advantages (the KL penalty folded into the reward for PPO).
    const adv = computeAdvantages(cfg, estimatorName, klInReward, { scores: rows.map((r) => r.reward.reward), groups: rows.map((r) => r.group), seq: seqs.seq, oldLogProbs, refLogProbs, values })
    // 5. Policy (and value) update.
    const lr = cfg.actor.learning_rate * lrMultiplier({ name: cfg.actor.lr_scheduler, warmupSteps: cfg.actor.warmup_steps, totalSteps: cfg.total_steps }, step - 1)
    const upd = await timed('update', () => updateActor(actor, optimizer, cfg, step, lr, { seq: seqs.seq, oldLogProbs, advantages: adv.advantages, refLogProbs, returns: adv.returns, values }))
    // The reported KL to the reference, from the old_log_probs the on-policy update found.
    const tokenKl = adv.tokenKl ?? (refLogProbs && upd.oldLogProbs ? tokenKlOf(cfg, seqs.seq.responseMask, upd.oldLogProbs, refLogProbs) : undefined)
    // 6. Metrics, validation, logs.
    const data = stepMetrics(rows, allGroups, seqs.seq, tokenKl, upd.metrics, lr)
    data['actor/on_policy_shortcut'] = onPolicy ? 1 : 0
    if (valRecords.length > 0 && (step % cfg.trainer.eval_steps === 0 || step === cfg.total_steps)) Object.assign(data, await timed('validate', validate))
    const wall = (performance.now() - t0) / 1000
    for (const [k, v] of Object.entries(times)) data[`time/${k}`] = v
    data['time/step'] = wall
    // verl's perf/total_num_tokens: the step's real tokens (prompts and responses, no padding).
    data['perf/total_num_tokens'] = rows.reduce((a, r) => a + r.prompt.length + r.out.tokenIds.length, 0)
    data['perf/tokens_per_s'] = (data['perf/total_num_tokens'] * cfg.actor.ppo_epochs) / wall
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
      lastCheckpoint = saveCheckpoint(runDir, { step, config: loaded.config, weights: actor.model.weights, adapters: actor.model.adapters, baseModel: resolve(baseDir), valueHead: actor.valueHead, optimizer: optState, state: { ...state }, tokenizerFrom: baseDir, dtype: cfg.trainer.checkpoint_dtype, keep: cfg.trainer.save_total_limit })
    }
    if (stop) break
  }
  metricsLog.close()
  samplesLog.close()
  await actor.dispose()
  await ref?.dispose()
  return { steps: state.step, lastCheckpoint }
}

