import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { checkpointName, lastCheckpointDir } from '../rl/checkpoint.js'
import type { TrainConfig } from '../rl/config.js'
import { train } from '../rl/trainer.js'
import type { SftConfig } from '../sft/config.js'
import { sft } from '../sft/trainer.js'
import { Registry } from '../util/registry.js'
import { exportVerlCheckpoint, verlCheckpoint } from '../verl/checkpoints.js'
import { trainWithVerl } from '../verl/launch.js'
import { sftWithVerl } from '../verl/sft.js'

/** How a training job reports itself while it runs. */
export interface EngineRunOptions {
  /** Continue the run in runDir from its last checkpoint. */
  resume?: boolean
  info?: (msg: string) => void
  /** Called when a step's metrics are in runDir/metrics.jsonl (every step, or as an external engine's are read). */
  onStep?: (step: number, data: Record<string, number>) => void
  /** An external engine's outputs are read back this often (seconds). */
  followSeconds?: number
}

export interface EngineResult {
  /** The last step whose metrics are in the run directory. */
  steps: number
  /** The newest checkpoint, where the engine writes Hugging Face directories itself (embedded). */
  lastCheckpoint: string | null
}

/**
 * The seam between medrl and whatever trains the model. An engine runs a training job (RL or SFT) from a
 * resolved config and leaves the same run layout behind: config.yaml, metrics.jsonl ({"step", "data"} with
 * medrl's names), samples.jsonl and checkpoints (Hugging Face directories, or the engine's own with an export to
 * one). Reports, the dashboard, stage analysis and evaluation read only that layout.
 */
export interface TrainingEngine {
  name: string
  description: string
  /** `raw` is the config as written (before defaults), for engines that refuse keys they cannot honour. */
  train(cfg: TrainConfig, raw: Record<string, unknown>, runDir: string, opts: EngineRunOptions): Promise<EngineResult>
  sft(cfg: SftConfig, runDir: string, opts: EngineRunOptions): Promise<EngineResult>
  /**
   * A Hugging Face directory of the run's checkpoint at `step` (default: its latest): the engine's own, or one
   * exported into `exportDir`/step-N (kept there: a second call finds it).
   */
  checkpoint(runDir: string, o: { step?: number; exportDir: string; info?: (m: string) => void; logFile?: string }): Promise<{ step: number; dir: string }>
}

const registry = new Registry<TrainingEngine>('an engine', 'engine')

export function registerEngine(e: TrainingEngine): void {
  registry.register(e.name, e)
}

export function getEngine(name: string): TrainingEngine {
  return registry.get(name)
}

/** A new run goes into an absent or empty directory: a finished or running run is never overwritten. */
export function checkNewRunDir(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir}: already holds a run; give another --out, or --resume ${dir} to continue it`)
}

/** Runs a config on its engine: a new run only into an unused directory, a resumed one where it was. */
export function runTraining(cfg: TrainConfig, raw: Record<string, unknown>, runDir: string, opts: EngineRunOptions): Promise<EngineResult> {
  const engine = getEngine(cfg.engine)
  if (!opts.resume) checkNewRunDir(runDir)
  return engine.train(cfg, raw, runDir, opts)
}

/** Runs an SFT config on its engine, as runTraining. */
export function runSft(cfg: SftConfig, runDir: string, opts: EngineRunOptions): Promise<EngineResult> {
  const engine = getEngine(cfg.engine)
  if (!opts.resume) checkNewRunDir(runDir)
  return engine.sft(cfg, runDir, opts)
}

export function engineNames(): string[] {
  return registry.names()
}

registerEngine({
  name: 'embedded',
  description: "medrl's own CPU engine (onnxruntime): laptops, CI, the demo, models up to a few hundred million parameters",
  train: (cfg, _raw, runDir, o) => train(cfg, runDir, { resume: o.resume, info: o.info, onStep: (l) => o.onStep?.(l.step, l.data) }),
  sft: (cfg, runDir, o) => sft(cfg, runDir, { resume: o.resume, info: o.info, onStep: o.onStep }),
  checkpoint: async (runDir, o) => {
    const dir = o.step === undefined ? lastCheckpointDir(runDir) : join(runDir, 'checkpoints', checkpointName(o.step))
    if (!dir || !existsSync(dir)) throw new Error(`${runDir}: no checkpoint${o.step === undefined ? '' : ` of step ${o.step}`} (its checkpoints/ holds Hugging Face directories step-NNNNNN)`)
    return { step: Number(/step-(\d+)$/.exec(dir)![1]), dir }
  },
})

registerEngine({
  name: 'verl',
  description: 'verl 0.9 on a GPU cluster (Ray, FSDP, vLLM/SGLang; torchrun for SFT), driven from the same config',
  train: async (cfg, raw, runDir, o) => {
    const r = await trainWithVerl(cfg, raw, runDir, { resume: o.resume, info: o.info, followSeconds: o.followSeconds, onIngest: (x) => x.lastStep !== null && o.onStep?.(x.lastStep, x.data) })
    return { steps: r.lastStep ?? 0, lastCheckpoint: null }
  },
  sft: async (cfg, runDir, o) => {
    const r = await sftWithVerl(cfg, runDir, { resume: o.resume, info: o.info, followSeconds: o.followSeconds, onStep: o.onStep })
    return { steps: r.steps, lastCheckpoint: null }
  },
  checkpoint: async (runDir, o) => {
    // verl's shards become a Hugging Face directory once (the model merger); an export already there is used again.
    const { step } = verlCheckpoint(runDir, o.step)
    const dir = join(o.exportDir, `step-${step}`)
    if (existsSync(join(dir, 'config.json'))) return { step, dir }
    return exportVerlCheckpoint(runDir, dir, { step, info: o.info, logFile: o.logFile })
  },
})
