import type { QARecord } from '../../data/record.js'
import { DEFAULT_GEN, type Generator, type GenOutput } from '../../generate/generator.js'
import type { RewardFn, RewardResult } from '../../reward/rewards.js'
import { classifyStage, type Stage } from '../../reward/stages.js'
import { rewardView } from '../../reward/score.js'
import type { PromptTemplate } from '../../reward/templates.js'
import { Rng, hashString32 } from '../../util/rng.js'
import type { TrainerState } from '../checkpoint.js'
import type { TrainConfig } from '../config.js'
import type { ScoredRollout } from '../rollout-metrics.js'

/** One sampled response with its prompt, group (prompt index in the step), reward and reasoning stage. */
export interface Rollout {
  record: QARecord
  group: number
  prompt: number[]
  out: GenOutput
  reward: RewardResult
  stage: Stage | null
}

/** What the rollout step needs from the run: how prompts become ids, and how completions are scored. */
export interface RolloutContext {
  generator: Generator
  promptIds: (r: QARecord) => { ids: number[]; record: QARecord }
  reward: RewardFn
  template: PromptTemplate
}

/** The prompts of one step: the next `n` of the epoch's seeded order, crossing into the next epoch. */
export function takePrompts(records: readonly QARecord[], state: TrainerState, n: number, seed: number, shuffle: boolean): QARecord[] {
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

/** Samples `num_generations` responses per prompt and scores each (seeded by run seed, step, round and prompt). */
export async function sampleAndScore(ctx: RolloutContext, cfg: TrainConfig, prompts: readonly QARecord[], step: number, round: number, groupBase: number): Promise<Rollout[]> {
  const rendered = prompts.map(ctx.promptIds)
  const rewardCtx = { format: ctx.template.answerFormat, completionPrefix: ctx.template.completionPrefix }
  const outs = await ctx.generator.generate(
    rendered.map((p, i) => ({
      prompt: p.ids,
      params: { ...DEFAULT_GEN, maxNewTokens: cfg.rollout.max_new_tokens, n: cfg.rollout.num_generations, temperature: cfg.rollout.temperature, topP: cfg.rollout.top_p, seed: hashString32(`${cfg.seed}:${step}:${round}:${i}`) },
    })),
  )
  return outs.flatMap((samplesOf, i) =>
    samplesOf.map((out) => {
      const rec = rendered[i]!.record
      const reward = ctx.reward(out.text, rec, rewardCtx)
      return {
        record: rec,
        group: groupBase + i,
        prompt: rendered[i]!.ids,
        out,
        reward,
        stage: ctx.template.answerFormat === 'r1' ? classifyStage(out.text, rec, { prefix: ctx.template.completionPrefix, reward: rewardView(ctx.reward, reward) }) : null,
      }
    }),
  )
}

/**
 * The rollouts of one step, with DAPO's dynamic sampling when configured: groups whose rewards are all
 * equal carry no GRPO signal, so more prompts are drawn until the batch is full or the rounds run out.
 * `rows` are what the update trains on; `allGroups` every group sampled (the effective-query ratio's denominator).
 */
export async function collectRollouts(ctx: RolloutContext, cfg: TrainConfig, records: readonly QARecord[], state: TrainerState, step: number): Promise<{ rows: Rollout[]; allGroups: Rollout[][] }> {
  const n = cfg.rollout.num_generations
  const batch = cfg.rollout.train_batch_size
  let groups: Rollout[][] = []
  const allGroups: Rollout[][] = []
  const informative = (g: Rollout[]) => new Set(g.map((r) => r.reward.reward)).size > 1
  for (let round = 0; ; round++) {
    const prompts = takePrompts(records, state, batch, cfg.seed, cfg.data.shuffle)
    const rs = await sampleAndScore(ctx, cfg, prompts, step, round, allGroups.length)
    const byGroup = prompts.map((_, i) => rs.slice(i * n, (i + 1) * n))
    allGroups.push(...byGroup)
    groups.push(...(cfg.rollout.dynamic_sampling ? byGroup.filter(informative) : byGroup))
    if (!cfg.rollout.dynamic_sampling || groups.length >= batch || round >= cfg.rollout.max_resample_rounds) break
  }
  groups = groups.slice(0, batch)
  if (groups.length === 0) groups = allGroups.slice(0, batch) // nothing informative: train on what there is
  return { rows: groups.flat(), allGroups }
}

/** A rollout as the shared rollout metrics read it (the same shape the verl ingest builds from verl's dumps). */
export function toScored(r: Rollout): ScoredRollout {
  return {
    group: r.group,
    source: r.record.source,
    reward: r.reward.reward,
    correct: r.reward.correct,
    formatValid: r.reward.formatValid,
    stage: r.stage,
    completion: r.out.text,
    responseLength: r.out.tokenIds.length,
    truncated: r.out.finishReason === 'length',
    ...(typeof r.record.meta.intermediate === 'string' ? { intermediate: r.record.meta.intermediate } : {}),
  }
}
