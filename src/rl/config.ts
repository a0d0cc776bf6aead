import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { LoraSchema } from '../model/lora.js'
import YAML from 'yaml'
import { templateNames } from '../reward/templates.js'
import { DEFAULT_TEMPLATE, templateHelp } from '../defaults.js'

/**
 * Every option of a training run, with its default and a help line (TRL's GRPOConfig pattern), in
 * sections. Names follow verl / TRL. `medrl train --help-config` prints them all.
 */

const ModelInit = z
  .object({
    arch: z.enum(['llama', 'qwen2']).default('llama').describe('architecture of the model to create'),
    hidden: z.number().int().positive().default(64).describe('hidden size'),
    layers: z.number().int().positive().default(2).describe('decoder layers'),
    heads: z.number().int().positive().default(4).describe('attention heads'),
    kv_heads: z.number().int().positive().default(2).describe('key/value heads'),
    intermediate: z.number().int().positive().default(128).describe('MLP size'),
    bpe_vocab: z.number().int().min(256).default(300).describe('byte-level BPE size trained on the task text'),
    seed: z.number().int().default(0).describe('initialisation seed'),
    pretrain_steps: z.number().int().min(0).default(150).describe('next-token steps on task text (teaches the format and, partly, the answers)'),
    pretrain_learning_rate: z.number().positive().default(3e-3).describe('learning rate of that pretraining'),
    pretrain_correct_share: z.number().min(0).max(1).default(0.5).describe('share of pretraining answers that are right (the rest random): how much the base model already knows'),
  })
  .strict()

/** What only verl has, for any of its trainers: cluster shape, memory, names, and raw Hydra overrides. */
export const VerlClusterFields = {
  nnodes: z.number().int().positive().default(1).describe('nodes (of the Ray cluster; torchrun nodes for SFT)'),
  n_gpus_per_node: z.number().int().positive().default(8).describe('GPUs per node'),
  param_offload: z.boolean().optional().describe('FSDP: offload parameters to CPU (actor, reference, critic)'),
  optimizer_offload: z.boolean().optional().describe('FSDP: offload optimizer state to CPU (actor, critic)'),
  gradient_checkpointing: z.boolean().optional().describe('recompute activations in the backward pass (verl default true)'),
  project_name: z.string().default('medrl').describe('verl project name (metrics and checkpoint paths)'),
  experiment_name: z.string().optional().describe('verl experiment name (default: the run directory’s name)'),
  overrides: z.array(z.string()).default([]).describe('extra Hydra overrides (key=value; +key=value adds a key), checked against verl 0.9'),
}

/** What only verl's RL trainer has besides: the rollout engine, the critic, the Ray cluster and the reward service. */
const VerlSection = z
  .object({
    ...VerlClusterFields,
    rollout_name: z.enum(['vllm', 'sglang']).default('vllm').describe('rollout engine'),
    tensor_model_parallel_size: z.number().int().positive().optional().describe('rollout tensor parallel size (verl default 2)'),
    gpu_memory_utilization: z.number().gt(0).max(1).optional().describe('share of GPU memory the rollout engine may take (verl default 0.5)'),
    critic_model_path: z.string().optional().describe('PPO: the critic’s starting model (default: model.path)'),
    critic_learning_rate: z.number().positive().optional().describe('PPO: the critic’s learning rate (verl default 1e-5)'),
    ray_address: z.string().optional().describe('Ray job API of a running cluster (http://HEAD:8265): submit with `ray job submit` instead of running on this node'),
    reward_url: z.string().default('http://127.0.0.1:8765').describe('where reward.py finds `medrl reward serve` (MEDRL_REWARD_URL overrides)'),
    reward_workers: z.number().int().positive().optional().describe('verl reward workers (verl default 8)'),
  })
  .strict()

export const TrainConfigSchema = z
  .object({
    engine: z.enum(['embedded', 'verl']).default('embedded').describe('who trains: the embedded CPU engine, or verl on a GPU cluster'),
    algorithm: z.enum(['grpo', 'ppo']).default('grpo').describe('grpo (AlphaMed) or ppo (Med-RLVR)'),
    seed: z.number().int().default(0).describe('seed of every random choice of the run'),
    total_steps: z.number().int().positive().default(100).describe('policy update steps (one rollout batch each)'),
    model: z
      .object({
        path: z.string().optional().describe('a Hugging Face model directory to start from'),
        init: ModelInit.optional().describe('or: create a tiny model for a toy task (tests, examples)'),
      })
      .strict()
      .prefault({}),
    data: z
      .object({
        files: z.array(z.string()).default([]).describe('question files (any layout medrl data import reads)'),
        val_files: z.array(z.string()).default([]).describe('validation questions (verl validates on them every trainer.eval_steps)'),
        max_prompt_length: z.number().int().positive().default(1024).describe('prompts longer than this many tokens are left out of training'),
        task: z
          .object({ name: z.enum(['color-rule']).default('color-rule'), size: z.number().int().positive().default(256), seed: z.number().int().default(0) })
          .strict()
          .optional()
          .describe('or: a built-in toy task'),
        template: z
          .string()
          .default(DEFAULT_TEMPLATE.rl.name)
          .refine((t) => templateNames().includes(t), { message: `expected a template: ${templateNames().join(', ')}` })
          .describe(templateHelp(DEFAULT_TEMPLATE.rl, 'prompt template (its answer format is what the reward checks)')),
        chat: z.boolean().default(false).describe("render prompts through the model's chat template"),
        reward: z.string().default('binary').describe('reward name or weighted sum "binary:1,format:0.1"'),
        shuffle: z.boolean().default(true).describe('reshuffle the prompts every epoch'),
      })
      .strict()
      .prefault({}),
    rollout: z
      .object({
        train_batch_size: z.number().int().positive().default(8).describe('prompts per step'),
        num_generations: z.number().int().positive().default(8).describe('rollouts per prompt (the GRPO group)'),
        max_new_tokens: z.number().int().positive().default(256).describe('max_response_length'),
        temperature: z.number().min(0).default(1).describe('sampling temperature of rollouts'),
        top_p: z.number().gt(0).max(1).default(1).describe('nucleus sampling of rollouts'),
        dynamic_sampling: z.boolean().default(false).describe('DAPO: drop groups whose rewards are all equal and draw more prompts'),
        max_resample_rounds: z.number().int().min(0).default(3).describe('extra draws per step for dynamic sampling'),
      })
      .strict()
      .prefault({}),
    actor: z
      .object({
        learning_rate: z.number().positive().default(1e-6).describe('AdamW learning rate'),
        lr_scheduler: z.enum(['constant', 'constant_with_warmup', 'linear', 'cosine']).default('constant').describe('learning-rate schedule'),
        warmup_steps: z.number().int().min(0).default(0).describe('warm-up steps'),
        weight_decay: z.number().min(0).default(0).describe('AdamW decoupled weight decay'),
        max_grad_norm: z.number().positive().default(1).describe('clip gradients to this global norm'),
        ppo_epochs: z.number().int().positive().default(1).describe('passes over each rollout batch'),
        mini_batch_size: z.number().int().min(0).default(0).describe('rollouts per optimizer step (0: the whole batch)'),
        micro_batch_size: z.number().int().positive().default(16).describe('rollouts per forward/backward (gradients accumulate)'),
        policy_loss: z.string().default('vanilla').describe('policy loss (registry): vanilla (PPO clip, dual-clip), reinforce'),
        clip_ratio_low: z.number().min(0).default(0.2).describe('ratio clip below 1'),
        clip_ratio_high: z.number().min(0).default(0.2).describe('ratio clip above 1 (0.28 in DAPO)'),
        clip_ratio_c: z.number().gt(1).default(3).describe('dual-clip bound for negative advantages'),
        loss_agg_mode: z.enum(['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum', 'seq-mean-token-sum-norm']).default('token-mean').describe('how token losses become one number'),
        entropy_coeff: z.number().min(0).default(0).describe('entropy bonus'),
        recompute_old_log_probs: z.boolean().default(true).describe('old_log_probs from a forward pass (else the sampler’s)'),
        on_policy_shortcut: z.boolean().default(true).describe('when the update is exactly on-policy (ppo_epochs 1, one mini-batch, no value head, no KL in the reward), take old_log_probs from the update itself instead of a pass of their own'),
        lora: LoraSchema.optional().describe('train low-rank adapters (PEFT LoRA: rank, alpha, target_modules, dropout) instead of every weight; the reference is the base with the adapters off; checkpoints are PEFT adapters'),
      })
      .strict()
      .prefault({}),
    kl: z
      .object({
        kl_coef: z.number().min(0).default(0).describe('KL to the frozen reference model (0: no reference is loaded)'),
        kl_estimator: z.enum(['k1', 'k2', 'k3']).default('k3').describe('KL estimator'),
        use_kl_in_reward: z.boolean().optional().describe('fold per-token KL into the reward (PPO, Med-RLVR; default for ppo) instead of a loss term'),
      })
      .strict()
      .prefault({}),
    advantage: z
      .object({
        estimator: z.string().optional().describe('advantage estimator (registry): grpo, rloo, gae (default: grpo for grpo, gae for ppo)'),
        scale_rewards: z.enum(['group', 'batch', 'none']).default('group').describe('GRPO: divide by the group std, the batch std, or not (Dr. GRPO)'),
        gamma: z.number().min(0).max(1).default(1).describe('GAE discount'),
        lam: z.number().min(0).max(1).default(1).describe('GAE lambda'),
        whiten: z.boolean().default(true).describe('PPO: whiten advantages over the batch'),
      })
      .strict()
      .prefault({}),
    critic: z
      .object({
        vf_coef: z.number().min(0).default(0.1).describe('value-loss weight (PPO; value head on the policy)'),
        cliprange_value: z.number().min(0).default(0.5).describe('value clipping'),
      })
      .strict()
      .prefault({}),
    trainer: z
      .object({
        save_steps: z.number().int().min(0).default(50).describe('checkpoint every N steps (0: only at the end)'),
        eval_steps: z.number().int().min(0).default(0).describe('greedy accuracy on data.val_files every N steps and at the end (0: never)'),
        save_total_limit: z.number().int().min(1).default(2).describe('checkpoints kept'),
        log_samples: z.number().int().min(0).default(4).describe('completions per step written to samples.jsonl'),
        checkpoint_dtype: z.enum(['F32', 'BF16']).default('F32').describe('weights in checkpoints (F32 resumes bit-exactly)'),
        release_programs: z
          .union([z.literal('auto'), z.boolean()])
          .default('auto')
          .describe('free each phase’s compiled programs (and their memory arenas) when the phase ends; auto: for models of 100M parameters or more, where recompiling costs seconds against minutes of work'),
      })
      .strict()
      .prefault({}),
    verl: VerlSection.prefault({}).describe('verl only (engine: verl)'),
  })
  .strict()

export type TrainConfig = z.infer<typeof TrainConfigSchema>

/** Validates a config object against a schema; the error names where it came from and the option. */
export function parseWithSchema<S extends z.ZodType>(schema: S, raw: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(raw ?? {})
  if (!r.success) {
    const i = r.error.issues[0]!
    throw new Error(`${where}: ${i.path.join('.') || '(root)'}: ${i.message}`)
  }
  return r.data
}

/** Validates a config object; errors name the option. */
export function parseTrainConfig(raw: unknown, where = 'config'): TrainConfig {
  const c = parseWithSchema(TrainConfigSchema, raw, where)
  if (!c.model.path && !c.model.init) throw new Error(`${where}: model: give model.path (a model directory) or model.init (a tiny model)`)
  if (c.data.files.length === 0 && !c.data.task) throw new Error(`${where}: data: give data.files or data.task`)
  return c
}

/** Applies "a.b.c=value" overrides (values parsed as YAML: numbers, booleans, lists). */
export function applyOverrides(raw: Record<string, unknown>, sets: readonly string[]): Record<string, unknown> {
  const out = structuredClone(raw)
  for (const s of sets) {
    const eq = s.indexOf('=')
    if (eq <= 0) throw new Error(`--set ${s}: write key.path=value`)
    const path = s.slice(0, eq).split('.')
    let o: Record<string, unknown> = out
    for (const k of path.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>
    o[path[path.length - 1]!] = YAML.parse(s.slice(eq + 1))
  }
  return out
}

/** Every option with default and help, for --help-config; `verlName` adds each key's verl name on a second line. */
export function describeConfig(schema: z.ZodType = TrainConfigSchema, prefix = '', verlName?: (key: string) => string | undefined): string[] {
  const lines: string[] = []
  let s: z.ZodType = schema
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodPrefault) s = (s as z.ZodDefault<z.ZodType>).unwrap() as z.ZodType
  if (s instanceof z.ZodObject) {
    for (const [k, v] of Object.entries(s.shape as Record<string, z.ZodType>)) {
      let inner: z.ZodType = v
      while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional || inner instanceof z.ZodPrefault) inner = (inner as z.ZodDefault<z.ZodType>).unwrap() as z.ZodType
      const key = prefix ? `${prefix}.${k}` : k
      if (inner instanceof z.ZodObject && !['task'].includes(k)) {
        if (v.description) lines.push(`${key}: ${v.description}`)
        lines.push(...describeConfig(inner, key, verlName))
      } else {
        const def = v instanceof z.ZodDefault ? JSON.stringify((v as unknown as { def: { defaultValue: unknown } }).def.defaultValue) : v instanceof z.ZodOptional ? '(unset)' : ''
        lines.push(`${key.padEnd(36)} ${String(def).padEnd(14)} ${v.description ?? inner.description ?? ''}`)
        const vn = verlName?.(key)
        if (vn !== undefined) lines.push(`${''.padEnd(36)} ${'verl:'.padEnd(14)} ${vn}`)
      }
    }
  }
  return lines
}

export function loadConfigFile(text: string, where = 'config'): Record<string, unknown> {
  let v: unknown
  try {
    v = YAML.parse(text) as unknown
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message.split('\n')[0]}`)
  }
  if (v !== null && (typeof v !== 'object' || Array.isArray(v))) throw new Error(`${where}: a config file holds a mapping of options`)
  return (v ?? {}) as Record<string, unknown>
}

/** A config file's options as written, with `--set` overrides applied. */
export function readRawConfig(path: string, sets: readonly string[] = []): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new Error(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`)
  }
  return applyOverrides(loadConfigFile(text, path), sets)
}

/** A config file with `--set` overrides applied: the raw options as written (to tell which were set) and the resolved config. */
export function readConfig(path: string, sets: readonly string[] = []): { raw: Record<string, unknown>; cfg: TrainConfig } {
  const raw = readRawConfig(path, sets)
  return { raw, cfg: parseTrainConfig(raw, path) }
}
