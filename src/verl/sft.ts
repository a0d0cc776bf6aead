import { chmodSync, existsSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import YAML from 'yaml'
import { importFiles } from '../data/import.js'
import type { QARecord } from '../data/record.js'
import { writeVerlSftParquet, type VerlSftRow } from '../data/verl-parquet.js'
import { TextTokenizer } from '../model/tokenizer.js'
import { answerCompletion, getTemplate, renderPrompt } from '../reward/templates.js'
import type { SftConfig } from '../sft/config.js'
import { writeFileAtomic } from '../util/atomic.js'
import { readJsonl, type StepRow } from '../report/run-data.js'
import { latestVerlStep } from './checkpoints.js'
import { mergeVerlMetrics } from './ingest.js'
import { passthroughChatTemplate, shellQuote, tokenizerAddsBos } from './prepare.js'
import { requireVerl, runVerlScript } from './runtime.js'
import { hydraValue, parseOverride, VERL_PIP, VERL_VERSION } from './schema.js'

type Overrides = [string, unknown][]

/** Where a prepared SFT run's files live. */
interface SftPaths {
  trainFile: string
  valFile: string | null
  checkpointDir: string
  experimentName: string
  totalEpochs: number
}

function refuse(key: string, value: unknown, why: string): never {
  throw new Error(`${key}: ${JSON.stringify(value)} has no verl equivalent: ${why}`)
}

/**
 * One `medrl sft` key and what it becomes in verl 0.9's SFT trainer (`verl.trainer.sft_trainer`, config
 * trainer/config/sft_trainer_engine.yaml with model/hf_model.yaml, engine/fsdp.yaml and optim/fsdp.yaml under
 * model, engine and optim). `verl` names the keys; `emit` gives the overrides or throws naming a value verl cannot
 * honour.
 */
interface SftKeyMapping {
  key: string
  verl: string
  emit?: (c: SftConfig, p: SftPaths) => Overrides
}

const SCHEDULERS: Record<SftConfig['optim']['lr_scheduler'], string | null> = { constant: 'constant', constant_with_warmup: 'constant', cosine: 'cosine', linear: null }

export const SFT_KEY_MAP: SftKeyMapping[] = [
  { key: 'engine', verl: '(medrl: verl trains)' },
  { key: 'seed', verl: 'trainer.seed', emit: (c) => [['trainer.seed', c.seed]] },
  { key: 'total_steps', verl: 'trainer.total_training_steps (and trainer.total_epochs, enough to reach it)', emit: (c, p) => [['trainer.total_training_steps', c.total_steps], ['trainer.total_epochs', p.totalEpochs]] },
  { key: 'model.path', verl: 'model.path', emit: (c) => [['model.path', c.model.path]] },
  {
    key: 'model.lora',
    verl: 'model.lora_rank, model.lora_alpha, model.target_modules',
    emit: (c) => {
      const l = c.model.lora
      if (!l) return []
      if (l.rank <= 0) refuse('model.lora.rank', l.rank, 'the adapters need a rank of 1 or more')
      if ((l.dropout ?? 0) > 0) refuse('model.lora.dropout', l.dropout, 'verl 0.9\'s FSDP LoRA takes rank, alpha and target modules, no dropout')
      return [['model.lora_rank', l.rank], ['model.lora_alpha', l.alpha ?? 2 * l.rank], ['model.target_modules', l.target_modules]]
    },
  },
  { key: 'data.files', verl: 'data.train_files (train.parquet: chat messages, data.messages_key=messages)', emit: (_, p) => [['data.train_files', p.trainFile], ['data.messages_key', 'messages']] },
  { key: 'data.val_files', verl: 'data.val_files (val.parquet; null without)', emit: (_, p) => [['data.val_files', p.valFile]] },
  { key: 'data.template', verl: 'the rows’ messages (and model.custom_chat_template for plain text)' },
  { key: 'data.target', verl: 'the assistant turn of each row' },
  {
    key: 'data.shuffle_options',
    verl: '-',
    emit: (c) => (c.data.shuffle_options ? refuse('data.shuffle_options', true, 'verl’s SFT trainer reads each example as written once; options cannot be shuffled anew at every visit') : []),
  },
  { key: 'data.max_length', verl: 'data.max_length (data.truncation=error; longer examples are left out when the tokenizer is here)', emit: (c) => [['data.max_length', c.data.max_length], ['data.truncation', 'error']] },
  {
    key: 'data.shuffle',
    verl: '(verl’s SFT trainer always shuffles: DistributedSampler(shuffle=True))',
    emit: (c) => (c.data.shuffle ? [] : refuse('data.shuffle', false, 'verl’s SFT trainer always shuffles its data')),
  },
  { key: 'optim.learning_rate', verl: 'optim.lr', emit: (c) => [['optim.lr', c.optim.learning_rate]] },
  {
    key: 'optim.lr_scheduler',
    verl: 'optim.lr_scheduler_type (constant, cosine; each with optim.lr_warmup_steps)',
    emit: (c) => {
      const s = SCHEDULERS[c.optim.lr_scheduler] ?? refuse('optim.lr_scheduler', c.optim.lr_scheduler, 'verl 0.9 schedules constant or cosine (each with warm-up)')
      // medrl's `constant` has no warm-up; verl's constant warms up for lr_warmup_steps.
      return [['optim.lr_scheduler_type', s], ['optim.lr_warmup_steps', c.optim.lr_scheduler === 'constant' ? 0 : c.optim.warmup_steps]]
    },
  },
  { key: 'optim.warmup_steps', verl: 'optim.lr_warmup_steps' },
  { key: 'optim.weight_decay', verl: 'optim.weight_decay', emit: (c) => [['optim.weight_decay', c.optim.weight_decay]] },
  { key: 'optim.max_grad_norm', verl: 'optim.clip_grad', emit: (c) => [['optim.clip_grad', c.optim.max_grad_norm]] },
  { key: 'optim.train_batch_size', verl: 'data.train_batch_size', emit: (c) => [['data.train_batch_size', c.optim.train_batch_size]] },
  {
    key: 'optim.micro_batch_size',
    verl: 'data.micro_batch_size_per_gpu (data.use_dynamic_bsz=false, so micro-batches count examples)',
    emit: (c) => [['data.micro_batch_size_per_gpu', c.optim.micro_batch_size], ['data.use_dynamic_bsz', false]],
  },
  {
    key: 'trainer.save_steps',
    verl: 'trainer.save_freq (0 → -1: verl saves the last step anyway), trainer.default_local_dir',
    emit: (c, p) => [['trainer.save_freq', c.trainer.save_steps > 0 ? c.trainer.save_steps : -1], ['trainer.default_local_dir', p.checkpointDir]],
  },
  { key: 'trainer.save_total_limit', verl: 'trainer.max_ckpt_to_keep', emit: (c) => [['trainer.max_ckpt_to_keep', c.trainer.save_total_limit]] },
  { key: 'trainer.eval_steps', verl: 'trainer.test_freq (0 → -1; verl also validates at the last step when there are val files)', emit: (c) => [['trainer.test_freq', c.trainer.eval_steps > 0 ? c.trainer.eval_steps : -1]] },
  {
    key: 'trainer.checkpoint_dtype',
    verl: '(verl writes FSDP shards; `medrl verl export` merges them into BF16)',
    emit: (c) => (c.trainer.checkpoint_dtype === 'F32' ? [] : refuse('trainer.checkpoint_dtype', c.trainer.checkpoint_dtype, 'verl writes FSDP shards and its merger BF16 weights')),
  },
  { key: 'verl.nnodes', verl: 'trainer.nnodes (torchrun --nnodes)', emit: (c) => [['trainer.nnodes', c.verl.nnodes]] },
  { key: 'verl.n_gpus_per_node', verl: 'trainer.n_gpus_per_node (torchrun --nproc_per_node)', emit: (c) => [['trainer.n_gpus_per_node', c.verl.n_gpus_per_node]] },
  { key: 'verl.param_offload', verl: 'engine.param_offload', emit: (c) => (c.verl.param_offload === undefined ? [] : [['engine.param_offload', c.verl.param_offload]]) },
  { key: 'verl.optimizer_offload', verl: 'engine.optimizer_offload', emit: (c) => (c.verl.optimizer_offload === undefined ? [] : [['engine.optimizer_offload', c.verl.optimizer_offload]]) },
  { key: 'verl.gradient_checkpointing', verl: 'model.enable_gradient_checkpointing', emit: (c) => (c.verl.gradient_checkpointing === undefined ? [] : [['model.enable_gradient_checkpointing', c.verl.gradient_checkpointing]]) },
  { key: 'verl.project_name', verl: 'trainer.project_name', emit: (c) => [['trainer.project_name', c.verl.project_name]] },
  { key: 'verl.experiment_name', verl: 'trainer.experiment_name', emit: (_, p) => [['trainer.experiment_name', p.experimentName]] },
  { key: 'verl.overrides', verl: '(appended as they are, after medrl’s)' },
]

/** The top-level sections of verl 0.9's SFT trainer config: an override outside them cannot be right. */
const SFT_SECTIONS = ['data', 'model', 'engine', 'optim', 'checkpoint', 'trainer', 'profiler']

/** The chat messages of one SFT example: the prompt as the template renders it, then the target. */
export function sftMessages(cfg: SftConfig): (r: QARecord) => VerlSftRow['messages'] {
  const template = getTemplate(cfg.data.template)
  return (r) => {
    const reasoning = cfg.data.target === 'reasoning' && typeof r.meta.rationale === 'string' ? r.meta.rationale : ''
    const target = answerCompletion(r, template, reasoning)
    // Plain text, as medrl's own SFT renders it: the pre-filled prefix (e.g. "<think>") belongs to the prompt.
    return [
      { role: 'user', content: renderPrompt(r, template).text },
      { role: 'assistant', content: target },
    ]
  }
}

function sftRunScript(cfg: SftConfig, overrides: string[]): string {
  const args = overrides.map((o) => `  ${shellQuote(o)} \\`).join('\n')
  return `#!/usr/bin/env bash
# A verl ${VERL_VERSION} SFT run prepared by medrl (\`medrl sft --engine verl\`). Run it where verl is installed
# (pip install ${VERL_PIP}). One node: as it is. Several nodes: run it on each with NNODES, NODE_RANK,
# MASTER_ADDR and MASTER_PORT set (torchrun's rendezvous). MEDRL_TORCHRUN names the launcher (default torchrun).
# Extra Hydra overrides may follow: ./run.sh key=value
set -euo pipefail
HERE="$(cd "$(dirname "\${BASH_SOURCE[0]}")" && pwd)"
export VERL_FILE_LOGGER_PATH="\${VERL_FILE_LOGGER_PATH:-$HERE/metrics.jsonl}"
NNODES="\${NNODES:-${cfg.verl.nnodes}}"
if [ "$NNODES" = 1 ]; then
  RDZV=(--standalone)
else
  RDZV=(--node_rank="\${NODE_RANK:?set NODE_RANK}" --master_addr="\${MASTER_ADDR:?set MASTER_ADDR}" --master_port="\${MASTER_PORT:-29500}")
fi
exec \${MEDRL_TORCHRUN:-torchrun} "\${RDZV[@]}" --nnodes="$NNODES" --nproc_per_node=${cfg.verl.n_gpus_per_node} \\
  -m verl.trainer.sft_trainer \\
${args}
  "$@"
`
}

/** Where an SFT run prepared in `dir` keeps its files, for `records` training examples. */
export function verlSftPaths(cfg: SftConfig, dir: string, records: number, hasVal: boolean): SftPaths {
  const abs = resolve(dir)
  return {
    trainFile: join(abs, 'train.parquet'),
    valFile: hasVal ? join(abs, 'val.parquet') : null,
    checkpointDir: join(abs, 'checkpoints'),
    experimentName: cfg.verl.experiment_name ?? (basename(abs) === 'verl' ? basename(dirname(abs)) : basename(abs)),
    totalEpochs: Math.ceil(cfg.total_steps / Math.max(1, Math.floor(records / cfg.optim.train_batch_size))),
  }
}

/** The Hydra overrides of an SFT run: medrl's mapping, the bridge's own keys, then verl.overrides (their sections checked). */
export function verlSftOverrides(cfg: SftConfig, paths: SftPaths): string[] {
  const mapped: Overrides = SFT_KEY_MAP.flatMap((m) => m.emit?.(cfg, paths) ?? [])
  // medrl's SFT prompts are plain text (as its own SFT trains): verl passes them through this template.
  mapped.push(['trainer.logger', ['console', 'file']], ['trainer.resume_mode', 'auto'], ['model.custom_chat_template', passthroughChatTemplate(tokenizerAddsBos(cfg.model.path))])
  for (const line of cfg.verl.overrides) {
    const o = parseOverride(line)
    if (!SFT_SECTIONS.includes(o.key.split('.')[0]!)) throw new Error(`verl.overrides: "${line}": verl ${VERL_VERSION}'s SFT trainer has no section "${o.key.split('.')[0]}" (it has ${SFT_SECTIONS.join(', ')})`)
  }
  return [...mapped.map(([k, v]) => `${k}=${hydraValue(v)}`), ...cfg.verl.overrides]
}

/** What `prepareVerlSft` writes. */
export interface PreparedSft {
  dir: string
  runScript: string
  metricsFile: string
  checkpointDir: string
  overrides: string[]
  trainRows: number
  valRows: number
}

/**
 * Prepares a verl SFT run in `dir`: train.parquet (and val.parquet) with each example's chat messages, run.sh
 * (torchrun … -m verl.trainer.sft_trainer), overrides.txt and the resolved config. Examples longer than
 * data.max_length are left out when the model's tokenizer is on this machine (as medrl's own SFT does), so verl's
 * truncation=error never meets one. Needs neither verl nor a GPU.
 */
export async function prepareVerlSft(cfg: SftConfig, dir: string, opts: { info?: (m: string) => void } = {}): Promise<PreparedSft> {
  const abs = resolve(dir)
  for (const f of [...cfg.data.files, ...cfg.data.val_files]) if (!existsSync(f)) throw new Error(`data file ${f}: no such file`)
  const toMessages = sftMessages(cfg)
  const { records } = await importFiles(cfg.data.files)
  if (records.length === 0) throw new Error('data.files hold no records')
  const val = cfg.data.val_files.length > 0 ? (await importFiles(cfg.data.val_files)).records : []
  const tok = existsSync(join(cfg.model.path, 'tokenizer.json')) ? TextTokenizer.fromDir(cfg.model.path) : null
  const fits = (r: QARecord) => {
    if (!tok) return true
    const [prompt, target] = toMessages(r)
    // prompt (with BOS where the tokenizer adds one) + target + EOS, as the passthrough template renders them.
    return tok.encode(prompt!.content, { addSpecialTokens: true }).length + tok.encode(target!.content).length + 1 <= cfg.data.max_length
  }
  const train = records.filter(fits)
  if (train.length < records.length) opts.info?.(`${records.length - train.length} of ${records.length} training examples are longer than data.max_length (${cfg.data.max_length} tokens): left out`)
  if (train.length < cfg.optim.train_batch_size) throw new Error(`data.files hold ${train.length} usable examples, fewer than optim.train_batch_size (${cfg.optim.train_batch_size}): verl drops an incomplete batch`)
  const valKept = val.filter(fits)
  const paths = verlSftPaths(cfg, abs, train.length, valKept.length > 0)
  const overrides = verlSftOverrides(cfg, paths)
  writeVerlSftParquet(paths.trainFile, train.map((r) => ({ messages: toMessages(r), record: r })))
  if (paths.valFile) writeVerlSftParquet(paths.valFile, valKept.map((r) => ({ messages: toMessages(r), record: r })))
  writeFileAtomic(join(abs, 'overrides.txt'), `${overrides.join('\n')}\n`)
  const runScript = join(abs, 'run.sh')
  writeFileAtomic(runScript, sftRunScript(cfg, overrides))
  chmodSync(runScript, 0o755)
  writeFileAtomic(join(abs, 'config.yaml'), YAML.stringify(cfg))
  return { dir: abs, runScript, metricsFile: join(abs, 'metrics.jsonl'), checkpointDir: paths.checkpointDir, overrides, trainRows: train.length, valRows: valKept.length }
}

/**
 * `medrl sft --engine verl`: prepares the run in RUN/verl, runs its run.sh (torchrun and verl's SFT trainer), and
 * reads verl's metrics back into RUN/metrics.jsonl while it runs and at the end. A run whose last checkpoint is its
 * last step is read back, never rerun; a cut-off one resumes from verl's latest checkpoint (trainer.resume_mode auto).
 */
export async function sftWithVerl(cfg: SftConfig, runDir: string, opts: { resume?: boolean; info?: (m: string) => void; onStep?: (step: number, data: Record<string, number>) => void; followSeconds?: number } = {}): Promise<{ steps: number }> {
  const info = opts.info ?? (() => {})
  requireVerl('sft --engine verl', ['verl'])
  const verlDir = join(runDir, 'verl')
  if (opts.resume && !existsSync(join(verlDir, 'run.sh'))) throw new Error(`${runDir}: no verl/run.sh (is this a verl SFT run directory?)`)
  const prepared = await prepareVerlSft(cfg, verlDir, { info })
  writeFileAtomic(join(runDir, 'config.yaml'), YAML.stringify(cfg))
  let last: number | null = null
  const read = async () => {
    const previous = (readJsonl(join(runDir, 'metrics.jsonl')).rows as StepRow[]).filter((r) => typeof r?.step === 'number')
    const rows = mergeVerlMetrics(previous, readJsonl(prepared.metricsFile).rows)
    writeFileAtomic(join(runDir, 'metrics.jsonl'), rows.map((r) => `${JSON.stringify(r)}\n`).join(''))
    const tail = rows[rows.length - 1]
    if (tail && tail.step !== last) {
      last = tail.step
      opts.onStep?.(tail.step, tail.data)
    }
  }
  const done = existsSync(prepared.checkpointDir) ? latestVerlStep(prepared.checkpointDir) : null
  let code = 0
  if (done !== null && done >= cfg.total_steps) info(`verl already finished this run (checkpoint of step ${done}): reading it back`)
  else code = await runVerlScript(prepared.runScript, verlDir, { env: { ...process.env, VERL_FILE_LOGGER_PATH: prepared.metricsFile }, follow: read, followSeconds: opts.followSeconds, info })
  await read()
  if (code !== 0) throw new Error(`verl's SFT trainer exited with status ${code} after step ${last ?? 0}: see ${join(verlDir, 'verl.log')}; \`medrl sft --resume ${runDir}\` continues from its last checkpoint`)
  return { steps: last ?? 0 }
}
