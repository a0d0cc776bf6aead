import { spawnSync } from 'node:child_process'
import { closeSync, cpSync, existsSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { loadModel, modelInfo, saveModel } from '../model/files.js'
import { isAdapterDir } from '../model/lora.js'
import { requireVerl, verlPython } from './runtime.js'

/**
 * verl's checkpoints, as verl 0.9 writes them: `default_local_dir/global_step_N/` with `actor/` (and `critic/`) for
 * the PPO trainer (trainer/ppo/v1/trainer_base.py `_save_checkpoint`), or the FSDP files straight in `global_step_N/`
 * for the SFT trainer (utils/checkpoint/checkpoint_handler.py); in each, one `model_world_size_W_rank_R.pt` per
 * rank, `fsdp_config.json` and `huggingface/` (fsdp_checkpoint_manager.py), and `latest_checkpointed_iteration.txt`
 * beside the steps.
 */

/** The checkpoint directory of a verl run: RUN/verl/checkpoints, or the directory given if it holds checkpoints. */
export function checkpointRoot(dir: string): string {
  for (const d of [join(dir, 'verl', 'checkpoints'), join(dir, 'checkpoints'), dir]) {
    if (existsSync(d) && statSync(d).isDirectory() && (existsSync(join(d, 'latest_checkpointed_iteration.txt')) || readdirSync(d).some((n) => n.startsWith('global_step_')))) return d
  }
  throw new Error(`${dir}: no verl checkpoints (no global_step_N directories in ${join(dir, 'verl', 'checkpoints')})`)
}

/** The step of verl's latest checkpoint (its tracker file), or null when it has saved none. */
export function latestVerlStep(root: string): number | null {
  const tracker = join(root, 'latest_checkpointed_iteration.txt')
  if (!existsSync(tracker)) return null
  const s = Number(readFileSync(tracker, 'utf8').trim())
  return Number.isInteger(s) && existsSync(join(root, `global_step_${s}`)) ? s : null
}

/**
 * The model files of a step's checkpoint (its actor's, or the SFT trainer's), checked complete: the Hugging Face
 * config, fsdp_config.json (the merger reads the world size there) and every rank's shard.
 */
export function verlCheckpoint(dir: string, step?: number): { step: number; local: string } {
  const root = checkpointRoot(dir)
  let s = step
  if (s === undefined) {
    const latest = join(root, 'latest_checkpointed_iteration.txt')
    if (existsSync(latest)) s = Number(readFileSync(latest, 'utf8').trim())
    else s = Math.max(...readdirSync(root).map((n) => /^global_step_(\d+)$/.exec(n)).filter((m) => m).map((m) => Number(m![1])))
    if (!Number.isInteger(s)) throw new Error(`${latest}: not a step number`)
  }
  const folder = join(root, `global_step_${s}`)
  if (!existsSync(folder)) throw new Error(`${folder}: no such checkpoint (steps here: ${readdirSync(root).filter((n) => n.startsWith('global_step_')).join(', ') || 'none'})`)
  const local = existsSync(join(folder, 'actor')) ? join(folder, 'actor') : folder
  if (!existsSync(join(local, 'huggingface', 'config.json'))) throw new Error(`${local}: half-written checkpoint: no huggingface/config.json`)
  const shards = readdirSync(local).map((n) => /^model_world_size_(\d+)_rank_(\d+)\.pt$/.exec(n)).filter((m): m is RegExpExecArray => m !== null)
  if (shards.length === 0) throw new Error(`${local}: half-written checkpoint: no model_world_size_W_rank_R.pt shards`)
  const world = Number(shards[0]![1])
  for (let r = 0; r < world; r++) {
    const f = join(local, `model_world_size_${world}_rank_${r}.pt`)
    if (!existsSync(f) || statSync(f).size === 0) throw new Error(`${local}: half-written checkpoint: ${basename(f)} is missing or empty (${world} ranks expected)`)
  }
  if (!existsSync(join(local, 'fsdp_config.json'))) throw new Error(`${local}: half-written checkpoint: no fsdp_config.json (verl's model merger reads the world size there)`)
  return { step: s, local }
}

/** Where verl's model merger puts a LoRA run's adapter inside its target directory (base_model_merger.py save_lora_adapter). */
export const LORA_ADAPTER_DIR = 'lora_adapter'

/** The command that merges a checkpoint's shards (verl/model_merger/__main__.py; base_model_merger.py parse_args). */
export function mergerArgs(local: string, target: string): string[] {
  return ['-m', 'verl.model_merger', 'merge', '--backend', 'fsdp', '--local_dir', local, '--target_dir', target]
}

/**
 * `medrl verl export`: verl's model merger turns a step's FSDP shards into a Hugging Face directory, written under a
 * temporary name, checked with `medrl model info` (config and safetensors headers, no weights loaded), then renamed into place.
 */
export function exportVerlCheckpoint(runDir: string, out: string, opts: { step?: number; info?: (m: string) => void; logFile?: string } = {}): { step: number; dir: string } {
  if (existsSync(out) && readdirSync(out).length > 0) throw new Error(`${out}: already exists and is not empty`)
  const { step, local } = verlCheckpoint(runDir, opts.step)
  requireVerl('verl export', ['verl'])
  const tmp = `${resolve(out)}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  opts.info?.(`merging ${local} (step ${step})`)
  // The merger's output goes to the log file when given, else to stderr (stdout carries medrl's answer).
  const fd = opts.logFile ? openSync(opts.logFile, 'a') : 2
  let r
  try {
    r = spawnSync(verlPython(), mergerArgs(local, tmp), { stdio: ['ignore', fd, fd] })
  } finally {
    if (opts.logFile) closeSync(fd)
  }
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true })
    throw new Error(`verl's model merger failed (status ${r.status}) on ${local}${opts.logFile ? `: see ${opts.logFile}` : ''}`)
  }
  let ready = tmp
  try {
    modelInfo(tmp)
    // A LoRA run: verl's merger writes the base weights and the adapter apart (lora_adapter/); the adapter is merged
    // into them here, so the directory is the trained model, and kept beside it in PEFT's layout.
    if (isAdapterDir(join(tmp, LORA_ADAPTER_DIR))) {
      ready = `${tmp}-merged`
      rmSync(ready, { recursive: true, force: true })
      const merged = loadModel(join(tmp, LORA_ADAPTER_DIR), { adapters: 'merge', base: tmp })
      saveModel(ready, merged.config, merged.model.weights, { dtype: 'BF16', tokenizerFrom: tmp })
      cpSync(join(tmp, LORA_ADAPTER_DIR), join(ready, LORA_ADAPTER_DIR), { recursive: true })
      rmSync(tmp, { recursive: true, force: true })
      opts.info?.(`merged verl's LoRA adapter into the base weights (the adapter is kept in ${join(out, LORA_ADAPTER_DIR)})`)
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true })
    rmSync(`${tmp}-merged`, { recursive: true, force: true })
    throw new Error(`the merged model does not load in medrl: ${(e as Error).message}`)
  }
  if (existsSync(out)) rmSync(out, { recursive: true })
  renameSync(ready, out)
  return { step, dir: out }
}
