import { spawn, spawnSync } from 'node:child_process'
import { createWriteStream, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import YAML from 'yaml'
import { modelInfo } from '../model/files.js'
import type { TrainConfig } from '../rl/config.js'
import { writeFileAtomic } from '../util/atomic.js'
import { VerlIngest, type IngestResult } from './ingest.js'
import { prepareVerlRun } from './prepare.js'
import { RewardService } from './reward-service.js'
import { VERL_PIP, VERL_VERSION } from './schema.js'

/** The Python that runs verl (MEDRL_PYTHON, else python3 on PATH). */
export function verlPython(): string {
  return process.env.MEDRL_PYTHON ?? 'python3'
}

/** Throws one clear line when verl (or Ray) cannot be imported here. */
export function requireVerl(what: string, modules = ['verl', 'ray']): void {
  const py = verlPython()
  const r = spawnSync(py, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' })
  if (r.error || r.status !== 0) {
    const missing = r.error ? `${py} not found` : (r.stderr.trim().split('\n').pop() ?? 'import failed')
    throw new Error(`${what} needs verl ${VERL_VERSION} and Ray in ${py} (${missing}): install them with \`pip install ${VERL_PIP}\` (with vLLM or SGLang) on the GPU machine; \`medrl verl prepare\` writes the same run without them`)
  }
}

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
  const log = createWriteStream(join(verlDir, 'verl.log'), { flags: 'a' })
  info(`verl: ${prepared.runScript} (log: ${join(verlDir, 'verl.log')})`)
  const child = spawn('bash', [prepared.runScript], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.pipe(log, { end: false })
  child.stderr.pipe(log, { end: false })
  let last: IngestResult = { steps: 0, lastStep: null, data: {}, dumps: 0, unmatched: 0 }
  const read = async () => {
    const r = await ingest.run()
    if (r.lastStep !== last.lastStep) opts.onIngest?.(r)
    last = r
  }
  const follow = setInterval(() => void read().catch(() => {}), (opts.followSeconds ?? 10) * 1000) // files mid-write: the next pass reads them
  const code = await new Promise<number>((resolveExit) => child.on('close', (c) => resolveExit(c ?? 1)))
  clearInterval(follow)
  log.end()
  await service?.close()
  await read()
  if (code !== 0) throw new Error(`verl exited with status ${code} after step ${last.lastStep ?? 0}: see ${join(verlDir, 'verl.log')}; \`medrl train --resume ${runDir}\` continues from its last checkpoint`)
  return last
}

/** The checkpoint directory of a verl run: RUN/verl/checkpoints, or the directory given if it holds checkpoints. */
function checkpointRoot(dir: string): string {
  for (const d of [join(dir, 'verl', 'checkpoints'), join(dir, 'checkpoints'), dir]) {
    if (existsSync(d) && statSync(d).isDirectory() && (existsSync(join(d, 'latest_checkpointed_iteration.txt')) || readdirSync(d).some((n) => n.startsWith('global_step_')))) return d
  }
  throw new Error(`${dir}: no verl checkpoints (no global_step_N directories in ${join(dir, 'verl', 'checkpoints')})`)
}

/** The actor checkpoint of a step, checked complete: its Hugging Face config and every FSDP rank's shard. */
export function verlActorCheckpoint(dir: string, step?: number): { step: number; actor: string } {
  const root = checkpointRoot(dir)
  let s = step
  if (s === undefined) {
    const latest = join(root, 'latest_checkpointed_iteration.txt')
    if (existsSync(latest)) s = Number(readFileSync(latest, 'utf8').trim())
    else s = Math.max(...readdirSync(root).map((n) => /^global_step_(\d+)$/.exec(n)).filter((m) => m).map((m) => Number(m![1])))
    if (!Number.isInteger(s)) throw new Error(`${latest}: not a step number`)
  }
  const actor = join(root, `global_step_${s}`, 'actor')
  if (!existsSync(actor)) throw new Error(`${actor}: no such checkpoint (steps here: ${readdirSync(root).filter((n) => n.startsWith('global_step_')).join(', ') || 'none'})`)
  if (!existsSync(join(actor, 'huggingface', 'config.json'))) throw new Error(`${actor}: half-written checkpoint: no huggingface/config.json`)
  const shards = readdirSync(actor).map((n) => /^model_world_size_(\d+)_rank_(\d+)\.pt$/.exec(n)).filter((m): m is RegExpExecArray => m !== null)
  if (shards.length === 0) throw new Error(`${actor}: half-written checkpoint: no model_world_size_W_rank_R.pt shards`)
  const world = Number(shards[0]![1])
  for (let r = 0; r < world; r++) {
    const f = join(actor, `model_world_size_${world}_rank_${r}.pt`)
    if (!existsSync(f) || statSync(f).size === 0) throw new Error(`${actor}: half-written checkpoint: ${basename(f)} is missing or empty (${world} ranks expected)`)
  }
  return { step: s, actor }
}

/**
 * `medrl verl export`: verl's model merger turns a step's FSDP shards into a Hugging Face directory, written under a
 * temporary name, checked with `medrl model info` (config and safetensors headers, no weights loaded), then renamed into place.
 */
export function exportVerlCheckpoint(runDir: string, out: string, opts: { step?: number; info?: (m: string) => void } = {}): { step: number; dir: string } {
  if (existsSync(out) && readdirSync(out).length > 0) throw new Error(`${out}: already exists and is not empty`)
  const { step, actor } = verlActorCheckpoint(runDir, opts.step)
  requireVerl('verl export', ['verl'])
  const tmp = `${resolve(out)}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  opts.info?.(`merging ${actor} (step ${step})`)
  const r = spawnSync(verlPython(), ['-m', 'verl.model_merger', 'merge', '--backend', 'fsdp', '--local_dir', actor, '--target_dir', tmp], { stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true })
    throw new Error(`verl's model merger failed (status ${r.status}) on ${actor}`)
  }
  try {
    modelInfo(tmp)
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true })
    throw new Error(`the merged model does not load in medrl: ${(e as Error).message}`)
  }
  if (existsSync(out)) rmSync(out, { recursive: true })
  renameSync(tmp, out)
  return { step, dir: out }
}
