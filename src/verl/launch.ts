import { existsSync } from 'node:fs'
import { join } from 'node:path'
import YAML from 'yaml'
import type { TrainConfig } from '../rl/config.js'
import { writeFileAtomic } from '../util/atomic.js'
import { latestVerlStep } from './checkpoints.js'
import { VerlIngest, type IngestResult } from './ingest.js'
import { prepareVerlRun } from './prepare.js'
import { RewardService } from './reward-service.js'
import { requireVerl, runVerlScript } from './runtime.js'

function urlHostPort(url: string): { host: string; port: number } {
  const u = new URL(url)
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) }
}

export interface VerlTrainOptions {
  resume?: boolean
  info?: (m: string) => void
  /** After each read of verl's files that found a new step: that step's metrics. */
  onIngest?: (r: { steps: number; lastStep: number | null; data: Record<string, number> }) => void
  /** Seconds between reads of verl's files while it runs. */
  followSeconds?: number
}

/**
 * `medrl train --engine verl`: prepares the run in RUN/verl, serves medrl's reward on the configured address
 * (unless MEDRL_REWARD_URL names a service already running), runs RUN/verl/run.sh, and reads verl's metrics
 * and rollouts back into RUN while it runs and once more at the end, so `medrl report` and the dashboard work
 * on it as on an embedded run.
 */
export async function trainWithVerl(cfg: TrainConfig, raw: Record<string, unknown>, runDir: string, opts: VerlTrainOptions = {}): Promise<{ steps: number; lastStep: number | null }> {
  const info = opts.info ?? (() => {})
  requireVerl('train --engine verl')
  const verlDir = join(runDir, 'verl')
  if (opts.resume && !existsSync(join(verlDir, 'run.sh'))) throw new Error(`${runDir}: no verl/run.sh (is this a verl run directory?)`)
  // The service first: a taken port fails before anything is written.
  let service: RewardService | null = null
  const env: Record<string, string> = { ...(process.env as Record<string, string>) }
  if (!process.env.MEDRL_REWARD_URL) {
    const { host, port } = urlHostPort(cfg.verl.reward_url)
    service = new RewardService({ reward: cfg.data.reward, template: cfg.data.template, token: process.env.MEDRL_REWARD_TOKEN })
    try {
      await service.listen(port, host)
    } catch (e) {
      throw new Error(`the reward service cannot listen at ${cfg.verl.reward_url} (${(e as Error).message}): set verl.reward_url to a free port, or MEDRL_REWARD_URL to a running \`medrl reward serve\``)
    }
    env.MEDRL_REWARD_URL = cfg.verl.reward_url
    info(`medrl reward service at ${cfg.verl.reward_url}`)
  }
  let prepared
  try {
    prepared = await prepareVerlRun(cfg, raw, verlDir, { info })
  } catch (e) {
    await service?.close()
    throw e
  }
  env.VERL_FILE_LOGGER_PATH = prepared.metricsFile
  writeFileAtomic(join(runDir, 'config.yaml'), YAML.stringify(cfg))
  const ingest = new VerlIngest({ metrics: prepared.metricsFile, rollouts: prepared.rolloutDir, out: runDir, prepared: verlDir })
  let last: IngestResult = { steps: 0, lastStep: null, data: {}, dumps: 0, unmatched: 0 }
  const read = async () => {
    const r = await ingest.run()
    if (r.lastStep !== last.lastStep) opts.onIngest?.(r)
    last = r
  }
  // A run whose last checkpoint is its last step has finished: it is read back, never rerun.
  const done = finishedStep(prepared.checkpointDir, cfg.total_steps)
  let code = 0
  try {
    if (done !== null) info(`verl already finished this run (checkpoint of step ${done}): reading it back`)
    else code = await runVerlScript(prepared.runScript, verlDir, { env, follow: read, followSeconds: opts.followSeconds, info, rayAddress: cfg.verl.ray_address && (process.env.RAY_ADDRESS ?? cfg.verl.ray_address), jobName: prepared.experimentName })
  } finally {
    await service?.close()
  }
  await read()
  if (code !== 0) throw new Error(`verl exited with status ${code} after step ${last.lastStep ?? 0}: see ${join(verlDir, 'verl.log')}; \`medrl train --resume ${runDir}\` continues from its last checkpoint`)
  return last
}

/** The step of the run's final checkpoint when verl saved one at `totalSteps` (or later), else null. */
export function finishedStep(checkpointDir: string, totalSteps: number): number | null {
  const s = existsSync(checkpointDir) ? latestVerlStep(checkpointDir) : null
  return s !== null && s >= totalSteps ? s : null
}
