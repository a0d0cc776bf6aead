import { STAGES, stageCounts, type Stage } from '../reward/stages.js'
import { mean } from '../util/stats.js'

/** One scored rollout, as any engine produced it (medrl's embedded trainer or a verl rollout dump). */
export interface ScoredRollout {
  /** Rollouts of the same prompt share a group (the GRPO group). */
  group: string | number
  source: string
  reward: number
  correct: boolean
  formatValid: boolean
  stage: Stage | null
  completion: string
  /** Response length in tokens, when known. */
  responseLength?: number
  /** Whether the response hit the length limit, when known. */
  truncated?: boolean
  /** The fact the reasoning should name before answering (the testbed's two-hop vignettes), when the record has one. */
  intermediate?: string
}

/** Whether the text names `term` before its answer (before <answer> if there is one), case-insensitively. */
export function mentionsBeforeAnswer(text: string, term: string): boolean {
  const lower = text.toLowerCase()
  const end = lower.indexOf('<answer>')
  const i = lower.indexOf(term.toLowerCase())
  return i !== -1 && (end === -1 || i < end)
}

/** Rollouts by group, in order of first appearance. */
export function groupRollouts<T extends { group: string | number }>(rows: readonly T[]): T[][] {
  const by = new Map<string | number, T[]>()
  for (const r of rows) {
    const g = by.get(r.group)
    if (g) g.push(r)
    else by.set(r.group, [r])
  }
  return [...by.values()]
}

/**
 * The rollout metrics the papers chart, from any batch of scored rollouts: reward, accuracy, format rate,
 * AlphaMed's effective-query ratio (groups whose rewards are not all equal) and solve-all/none shares,
 * response length, Med-RLVR's reasoning stages, reasoning that names the intermediate fact, and per-source
 * lines when the batch mixes sources. `drawn` are every group sampled this step (dynamic sampling may train on
 * fewer); the group shares are over them.
 */
export function rolloutMetrics(rows: readonly ScoredRollout[], drawn: readonly (readonly ScoredRollout[])[] = groupRollouts(rows)): Record<string, number> {
  const rewards = rows.map((r) => r.reward)
  const rewardMean = mean(rewards)
  const diverse = (g: readonly ScoredRollout[]) => new Set(g.map((r) => r.reward)).size > 1
  const data: Record<string, number> = {
    'reward/mean': rewardMean,
    'reward/std': Math.sqrt(mean(rewards.map((x) => (x - rewardMean) ** 2))),
    'accuracy/mean': mean(rows.map((r) => (r.correct ? 1 : 0))),
    'format/valid_rate': mean(rows.map((r) => (r.formatValid ? 1 : 0))),
    'rollout/effective_ratio': mean(drawn.map((g) => (diverse(g) ? 1 : 0))),
    'rollout/solve_all': mean(drawn.map((g) => (g.every((r) => r.correct) ? 1 : 0))),
    'rollout/solve_none': mean(drawn.map((g) => (g.every((r) => !r.correct) ? 1 : 0))),
    'rollout/groups_used': groupRollouts(rows).length,
  }
  if (rows.length > 0 && rows.every((r) => r.responseLength !== undefined)) data['response_length/mean'] = mean(rows.map((r) => r.responseLength!))
  if (rows.length > 0 && rows.every((r) => r.truncated !== undefined)) data['response_length/clip_ratio'] = mean(rows.map((r) => (r.truncated ? 1 : 0)))
  if (rows.length > 0 && rows.every((r) => r.stage !== null)) {
    const counts = stageCounts(rows.map((r) => r.stage!))
    for (const s of STAGES) data[`stage/${s}`] = counts[s] / rows.length
  }
  const withIntermediate = rows.filter((r) => r.intermediate !== undefined)
  if (withIntermediate.length > 0) data['reasoning/mentions_intermediate'] = mean(withIntermediate.map((r) => (mentionsBeforeAnswer(r.completion, r.intermediate!) ? 1 : 0)))
  const sources = [...new Set(rows.map((r) => r.source))]
  if (sources.length > 1) {
    for (const src of sources) {
      const rs = rows.filter((r) => r.source === src)
      data[`reward/mean/${src}`] = mean(rs.map((r) => r.reward))
      data[`accuracy/mean/${src}`] = mean(rs.map((r) => (r.correct ? 1 : 0)))
      const gs = drawn.filter((g) => g[0]!.source === src)
      data[`rollout/effective_ratio/${src}`] = mean(gs.map((g) => (diverse(g) ? 1 : 0)))
    }
  }
  return data
}
