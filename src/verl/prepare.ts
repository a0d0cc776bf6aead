import { chmodSync, existsSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import YAML from 'yaml'
import { importFiles } from '../data/import.js'
import type { QARecord } from '../data/record.js'
import { dataLengths } from '../data/stats.js'
import { writeVerlParquet } from '../data/verl-parquet.js'
import type { ChatMessage } from '../model/chat-template.js'
import { TextTokenizer } from '../model/tokenizer.js'
import type { TrainConfig } from '../rl/config.js'
import { resolveReward } from '../reward/rewards.js'
import { getTemplate, renderPrompt } from '../reward/templates.js'
import { writeFileAtomic } from '../util/atomic.js'
import { Rng } from '../util/rng.js'
import { mapConfig, type VerlPaths } from './mapping.js'
import { rewardModuleText } from './reward-module.js'
import { checkOverrides, hydraValue, VERL_PIP, VERL_VERSION } from './schema.js'

/**
 * verl always applies a chat template to a row's messages. For base models prompted with plain text (Med-RLVR's
 * R1 prompt), this one passes the text through as medrl renders it: a user turn as its text, after the BOS token
 * when the tokenizer's own encoding starts with one (`bos`), an assistant turn (SFT's target) as its text and the
 * EOS token, so that the model learns to stop, as medrl's own SFT target does. verl's SFT dataset renders each turn
 * alone and concatenates them (multiturn_sft_dataset.py), so the BOS goes with the first turn only when it is not
 * the assistant's.
 */
export function passthroughChatTemplate(bos: boolean): string {
  const user = `${bos ? '{% if loop.first and bos_token %}{{ bos_token }}{% endif %}' : ''}{{ m.content }}`
  return `{% for m in messages %}{% if m.role == 'assistant' %}{{ m.content }}{% if eos_token %}{{ eos_token }}{% endif %}{% else %}${user}{% endif %}{% endfor %}`
}

/**
 * Whether the policy's tokenizer starts an encoded text with BOS: read from tokenizer.json when the model is on
 * this machine; for a hub name, whether verl's rendering should add the BOS is left to the tokenizer's bos_token
 * (Llama's have one and add it, Qwen's have none).
 */
export function tokenizerAddsBos(modelPath: string | undefined): boolean {
  if (!modelPath || !existsSync(join(modelPath, 'tokenizer.json'))) return true
  const tok = TextTokenizer.fromDir(modelPath)
  return tok.bosId !== null && tok.encode('x', { addSpecialTokens: true })[0] === tok.bosId
}

/** Where a run prepared in `dir` keeps its files, for `records` training questions. */
export function verlPaths(cfg: TrainConfig, dir: string, records: number): VerlPaths {
  const abs = resolve(dir)
  return {
    trainFile: join(abs, 'train.parquet'),
    valFile: join(abs, 'val.parquet'),
    rewardModule: join(abs, 'reward.py'),
    rolloutDir: join(abs, 'rollouts'),
    checkpointDir: join(abs, 'checkpoints'),
    // A run's verl files live in RUN/verl: the experiment is named after the run.
    experimentName: cfg.verl.experiment_name ?? (basename(abs) === 'verl' ? basename(dirname(abs)) : basename(abs)),
    totalEpochs: Math.ceil(cfg.total_steps / Math.max(1, Math.floor(records / cfg.rollout.train_batch_size))),
    hasVal: cfg.data.val_files.length > 0,
  }
}

/**
 * The Hydra overrides of a run (medrl's mapping, the bridge's own keys, then verl.overrides as they are), each
 * checked against verl's schema: what run.sh passes to `python3 -m verl.trainer.main_ppo`.
 */
export function verlOverrides(cfg: TrainConfig, raw: Record<string, unknown>, paths: VerlPaths): string[] {
  const mapped = mapConfig(cfg, raw, paths)
  mapped.push(['trainer.logger', ['console', 'file']], ['trainer.rollout_data_dir', paths.rolloutDir], ['data.prompt_key', 'prompt'], ['data.reward_fn_key', 'data_source'])
  if (!cfg.data.chat) mapped.push(['actor_rollout_ref.model.custom_chat_template', passthroughChatTemplate(tokenizerAddsBos(cfg.model.path))])
  const own = mapped.map(([k, v]) => `${k}=${hydraValue(v)}`)
  checkOverrides(own, 'medrl → verl mapping')
  checkOverrides(cfg.verl.overrides, 'verl.overrides')
  return [...own, ...cfg.verl.overrides]
}

/** What `prepare` writes, all inside one directory. */
export interface PreparedRun {
  dir: string
  trainFile: string
  valFile: string
  rewardModule: string
  overridesFile: string
  runScript: string
  metricsFile: string
  rolloutDir: string
  checkpointDir: string
  overrides: string[]
  /** verl's trainer.experiment_name of the run. */
  experimentName: string
  trainRecords: number
  valRecords: number
  /** What prepare decided that a user should know (a validation sample, filtered prompts…). */
  notes: string[]
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}

function runScriptText(cfg: TrainConfig, overrides: string[]): string {
  const args = overrides.map((o) => `  ${shellQuote(o)} \\`).join('\n')
  const head = `#!/usr/bin/env bash
# A verl ${VERL_VERSION} run prepared by medrl (\`medrl verl prepare\`). Run it where verl is installed
# (pip install ${VERL_PIP}, with vLLM or SGLang). The medrl reward service must be reachable first:
#   medrl reward serve --port 8765            # on this node (loopback), or
#   medrl reward serve --host 0.0.0.0 --token T   # on the head node, for a multi-node run
# MEDRL_REWARD_URL / MEDRL_REWARD_TOKEN point reward.py at it; MEDRL_PYTHON names the Python with verl (default
# python3). Extra Hydra overrides may follow: ./run.sh key=value
set -euo pipefail
HERE="$(cd "$(dirname "\${BASH_SOURCE[0]}")" && pwd)"
export VERL_FILE_LOGGER_PATH="\${VERL_FILE_LOGGER_PATH:-$HERE/metrics.jsonl}"
export MEDRL_REWARD_URL="\${MEDRL_REWARD_URL:-${cfg.verl.reward_url}}"
`
  if (cfg.verl.ray_address === undefined) return `${head}exec "\${MEDRL_PYTHON:-python3}" -m verl.trainer.main_ppo \\\n${args}\n  "$@"\n`
  return `${head}# Several nodes: the job goes to the Ray cluster under a submission id (MEDRL_RAY_SUBMISSION_ID, else one made
# here), by which it can be stopped: ray job stop --address "$RAY_ADDRESS" ID. Every worker gets the reward service's
# address and the metrics path. MEDRL_CLUSTER_PYTHON names the Python with verl on the cluster (default python3).
RAY_ADDRESS="\${RAY_ADDRESS:-${cfg.verl.ray_address}}"
SUBMISSION_ID="\${MEDRL_RAY_SUBMISSION_ID:-medrl-$(date +%Y%m%d-%H%M%S)-$$}"
RUNTIME_ENV="$(python3 -c 'import json, os; print(json.dumps({"env_vars": {k: os.environ[k] for k in ("VERL_FILE_LOGGER_PATH", "MEDRL_REWARD_URL", "MEDRL_REWARD_TOKEN") if k in os.environ}}))')"
exec ray job submit --address="$RAY_ADDRESS" --submission-id="$SUBMISSION_ID" --runtime-env-json="$RUNTIME_ENV" -- \\
  "\${MEDRL_CLUSTER_PYTHON:-python3}" -m verl.trainer.main_ppo \\
${args}
  "$@"
`
}

/** The prompt column of a row: the template's chat messages, or the plain text as one user message. */
function rowPrompt(cfg: TrainConfig): (r: QARecord) => ChatMessage[] {
  const template = getTemplate(cfg.data.template)
  if (cfg.data.chat) {
    if (template.completionPrefix !== '') throw new Error(`data.template: ${template.name} pre-fills the completion, which verl's chat templates cannot; use data.chat: false`)
    return (r) => template.messages(r)
  }
  return (r) => [{ role: 'user', content: renderPrompt(r, template).text }]
}

/**
 * Prepares a verl run: checks the config maps onto verl 0.9 (every override against verl's schema), then writes
 * train.parquet / val.parquet (verl's row layout, prompts rendered by medrl's template), reward.py, overrides.txt,
 * run.sh and the resolved medrl config into `dir`. Needs neither verl nor the model on this machine.
 */
export async function prepareVerlRun(cfg: TrainConfig, raw: Record<string, unknown>, dir: string, opts: { info?: (m: string) => void } = {}): Promise<PreparedRun> {
  const abs = resolve(dir)
  resolveReward(cfg.data.reward)
  const template = getTemplate(cfg.data.template)
  const prompt = rowPrompt(cfg)
  for (const f of [...cfg.data.files, ...cfg.data.val_files]) if (!existsSync(f)) throw new Error(`data file ${f}: no such file`)
  const { records: train } = await importFiles(cfg.data.files)
  if (train.length === 0) throw new Error(`data.files hold no records`)
  const batch = cfg.rollout.train_batch_size
  if (train.length < batch) throw new Error(`data.files hold ${train.length} questions, fewer than rollout.train_batch_size (${batch}): verl drops an incomplete batch`)
  const notes: string[] = []
  let val: QARecord[]
  if (cfg.data.val_files.length > 0) val = (await importFiles(cfg.data.val_files)).records
  else {
    // verl always builds a validation set; without data.val_files it gets a small sample of the training rows and validation stays off.
    val = new Rng(cfg.seed).shuffle([...train]).slice(0, Math.min(64, train.length))
    notes.push(`no data.val_files: val.parquet holds ${val.length} training questions so verl can start; validation is off`)
  }
  const paths = verlPaths(cfg, abs, train.length)
  const overrides = verlOverrides(cfg, raw, paths)

  const extraInfo = { template: template.name, reward: cfg.data.reward, extract_mode: 'strict', completion_prefix: template.completionPrefix }
  writeVerlParquet(paths.trainFile, train, { prompt, extraInfo })
  writeVerlParquet(paths.valFile, val, { prompt, extraInfo })
  writeFileAtomic(paths.rewardModule, rewardModuleText({ url: cfg.verl.reward_url }))
  const overridesFile = join(abs, 'overrides.txt')
  writeFileAtomic(overridesFile, `${overrides.join('\n')}\n`)
  const runScript = join(abs, 'run.sh')
  writeFileAtomic(runScript, runScriptText(cfg, overrides))
  chmodSync(runScript, 0o755)
  writeFileAtomic(join(abs, 'config.yaml'), YAML.stringify(cfg))
  // In the policy's tokens when its tokenizer is on this machine (a hub name is not read); characters always.
  const tokDir = cfg.model.path
  const tok = tokDir && existsSync(join(tokDir, 'tokenizer.json')) ? TextTokenizer.fromDir(tokDir) : null
  writeFileAtomic(join(abs, 'data_lengths.json'), JSON.stringify(dataLengths(train, tok ? (t) => tok.encode(t).length : undefined)))
  for (const n of notes) opts.info?.(n)
  return {
    dir: abs,
    trainFile: paths.trainFile,
    valFile: paths.valFile,
    rewardModule: paths.rewardModule,
    overridesFile,
    runScript,
    metricsFile: join(abs, 'metrics.jsonl'),
    rolloutDir: paths.rolloutDir,
    checkpointDir: paths.checkpointDir,
    overrides,
    experimentName: paths.experimentName,
    trainRecords: train.length,
    valRecords: val.length,
    notes,
  }
}
