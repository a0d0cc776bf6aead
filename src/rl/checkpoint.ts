import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Tensor } from '../engine/tensor.js'
import type { OptimizerState } from '../engine/optim.js'
import type { ModelConfig } from '../model/config.js'
import type { Adapters } from '../model/causal-lm.js'
import { copyTokenizerFiles, saveModel } from '../model/files.js'
import { saveAdapter } from '../model/lora.js'
import { SafetensorsFile, writeSafetensors } from '../model/safetensors.js'
import { writeFileAtomic } from '../util/atomic.js'
import { readJsonFile } from '../util/json-file.js'
import { JsonlLog } from '../util/jsonl-log.js'

/** What a trainer needs besides weights to continue exactly where it stopped. */
export interface TrainerState {
  step: number
  /** Data cursor: the epoch and the position in that epoch's (seeded) prompt order. */
  epoch: number
  position: number
  optimizer: { kind: string; step: number; hyper: Record<string, number> }
}

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`
}

/**
 * Writes a checkpoint directory: the policy in the Hugging Face layout (with tokenizer files), or its adapters in
 * PEFT's, the value head, the optimizer moments and the trainer state. It is written under a temporary name and renamed,
 * so a checkpoint directory is always complete; older ones beyond `keep` are removed.
 */
export function saveCheckpoint(runDir: string, o: { step: number; config: ModelConfig; weights: Record<string, Tensor>; adapters?: Adapters | null; baseModel?: string; valueHead: Record<string, Tensor> | null; optimizer: OptimizerState; state: TrainerState; tokenizerFrom?: string; dtype: 'F32' | 'BF16'; keep: number }): string {
  const root = join(runDir, 'checkpoints')
  mkdirSync(root, { recursive: true })
  const name = checkpointName(o.step)
  const tmp = join(root, `.${name}.tmp-${process.pid}`)
  // Temporaries of checkpoints cut off by a kill (this run's own included) are never complete: removed.
  for (const stale of readdirSync(root).filter((n) => /^\.step-\d+\.tmp-/.test(n))) rmSync(join(root, stale), { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  // With adapters, the checkpoint is the adapter in PEFT's layout (plus the tokenizer files), the base left where it is.
  if (o.adapters) {
    saveAdapter(tmp, o.adapters.spec, o.adapters.weights, { baseModel: o.baseModel ?? '', dtype: o.dtype })
    copyTokenizerFiles(o.tokenizerFrom, tmp)
  } else saveModel(tmp, o.config, o.weights, { dtype: o.dtype, tokenizerFrom: o.tokenizerFrom })
  if (o.valueHead) writeSafetensors(join(tmp, 'value_head.safetensors'), o.valueHead)
  const opt: Record<string, Tensor> = {}
  for (const [k, v] of Object.entries(o.optimizer.buffers)) opt[k] = new Tensor('float32', v, [v.length])
  writeSafetensors(join(tmp, 'optimizer.safetensors'), opt)
  writeFileAtomic(join(tmp, 'trainer_state.json'), `${JSON.stringify(o.state, null, 2)}\n`)
  const dest = join(root, name)
  rmSync(dest, { recursive: true, force: true })
  renameSync(tmp, dest)
  const all = listCheckpoints(runDir)
  for (const old of all.slice(0, Math.max(0, all.length - o.keep))) rmSync(join(root, checkpointName(old)), { recursive: true, force: true })
  return dest
}

/** Steps of the complete checkpoints of a run, ascending. */
export function listCheckpoints(runDir: string): number[] {
  const root = join(runDir, 'checkpoints')
  if (!existsSync(root)) return []
  return readdirSync(root)
    .map((n) => /^step-(\d{6})$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(join(root, m[0], 'trainer_state.json')))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b)
}

export interface LoadedCheckpoint {
  dir: string
  state: TrainerState
  optimizer: OptimizerState
  valueHead: Record<string, Tensor> | null
}

/** The optimizer moments, value head and trainer state of a checkpoint (weights load with loadModel). */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const state = readJsonFile<TrainerState>(join(dir, 'trainer_state.json'), 'checkpoint state')
  const st = new SafetensorsFile(join(dir, 'optimizer.safetensors'))
  const buffers: Record<string, Float32Array> = {}
  try {
    for (const n of st.names()) buffers[n] = st.read(n).data as Float32Array
  } finally {
    st.close()
  }
  let valueHead: Record<string, Tensor> | null = null
  if (existsSync(join(dir, 'value_head.safetensors'))) {
    const vh = new SafetensorsFile(join(dir, 'value_head.safetensors'))
    valueHead = {}
    for (const n of vh.names()) valueHead[n] = vh.read(n)
    vh.close()
  }
  return { dir, state, optimizer: { ...state.optimizer, buffers }, valueHead }
}

/** Drops log lines written after the checkpoint a run resumes from (the interrupted tail). */
export function truncateRunLogs(runDir: string, step: number): void {
  for (const name of ['metrics.jsonl', 'samples.jsonl']) {
    const log = new JsonlLog<{ step: number }>(join(runDir, name))
    log.close()
    if (log.rows.some((r) => r.step > step)) writeFileAtomic(log.path, log.rows.filter((r) => r.step <= step).map((r) => `${JSON.stringify(r)}\n`).join(''))
  }
}

/** The newest complete checkpoint of a run directory, or null. */
export function lastCheckpointDir(runDir: string): string | null {
  const all = listCheckpoints(runDir)
  return all.length > 0 ? join(runDir, 'checkpoints', checkpointName(all[all.length - 1]!)) : null
}
