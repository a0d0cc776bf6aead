import { TrainConfigSchema, type TrainConfig } from '../rl/config.js'
import { getKlEstimator } from '../rl/kl.js'

/** Where prepared files live, for the overrides that name them. */
export interface VerlPaths {
  trainFile: string
  valFile: string
  rewardModule: string
  rolloutDir: string
  checkpointDir: string
  experimentName: string
  /** Epochs verl must allow so that it reaches total_steps (verl stops at whichever comes first). */
  totalEpochs: number
  /** Whether data.val_files were given (else validation is off). */
  hasVal: boolean
}

type Overrides = [string, unknown][]

/**
 * One medrl key and what it becomes in verl 0.9. `verl` names the verl keys (for --help-config); `emit` gives
 * the overrides for a config, or throws naming the key when a value has no verl equivalent; `none` marks a key
 * verl has no equivalent for at all: setting it with engine: verl is an error that says why.
 */
export interface KeyMapping {
  key: string
  verl: string
  emit?: (c: TrainConfig, p: VerlPaths) => Overrides
  none?: string
}

const AR = 'actor_rollout_ref'

function unsupported(key: string, value: unknown, why: string): never {
  throw new Error(`${key}: ${JSON.stringify(value)} has no verl equivalent: ${why}`)
}

const estimatorOf = (c: TrainConfig) => c.advantage.estimator ?? (c.algorithm === 'ppo' ? 'gae' : 'grpo')
const usesCritic = (c: TrainConfig) => estimatorOf(c) === 'gae'
const klInReward = (c: TrainConfig) => c.kl.use_kl_in_reward ?? c.algorithm === 'ppo'

export const KEY_MAP: KeyMapping[] = [
  { key: 'engine', verl: '(medrl: verl trains)' },
  { key: 'algorithm', verl: 'algorithm.adv_estimator (grpo; ppo → gae with a critic)' },
  { key: 'seed', verl: 'data.seed, actor.data_loader_seed, rollout.seed', emit: (c) => [['data.seed', c.seed], [`${AR}.actor.data_loader_seed`, c.seed], [`${AR}.rollout.seed`, c.seed]] },
  { key: 'total_steps', verl: 'trainer.total_training_steps', emit: (c, p) => [['trainer.total_training_steps', c.total_steps], ['trainer.total_epochs', p.totalEpochs]] },
  {
    key: 'model.path',
    verl: `${AR}.model.path (and critic.model.path for PPO)`,
    emit: (c) => [[`${AR}.model.path`, c.model.path!], ...(usesCritic(c) ? ([['critic.model.path', c.verl.critic_model_path ?? c.model.path!]] as Overrides) : [])],
  },
  { key: 'model.init', verl: '-', none: 'it builds a tiny model on this machine; verl trains a real checkpoint: give model.path (a hub id or a path on the cluster)' },
  { key: 'data.files', verl: 'data.train_files (train.parquet)', emit: (_, p) => [['data.train_files', p.trainFile]] },
  { key: 'data.val_files', verl: 'data.val_files (val.parquet)', emit: (_, p) => [['data.val_files', p.valFile]] },
  { key: 'data.max_prompt_length', verl: 'data.max_prompt_length, data.filter_overlong_prompts', emit: (c) => [['data.max_prompt_length', c.data.max_prompt_length], ['data.filter_overlong_prompts', true], ['data.truncation', 'error']] },
  { key: 'data.task', verl: '-', none: 'built-in toy tasks are for the embedded engine; give data.files' },
  { key: 'data.template', verl: 'the rows’ prompt (and model.custom_chat_template for plain text)' },
  { key: 'data.chat', verl: 'plain text passes through actor_rollout_ref.model.custom_chat_template' },
  { key: 'data.reward', verl: 'reward.custom_reward_function (reward.py → medrl reward serve)', emit: (_, p) => [['reward.custom_reward_function.path', p.rewardModule], ['reward.custom_reward_function.name', 'compute_score']] },
  { key: 'data.shuffle', verl: 'data.shuffle', emit: (c) => [['data.shuffle', c.data.shuffle]] },
  { key: 'rollout.train_batch_size', verl: 'data.train_batch_size', emit: (c) => [['data.train_batch_size', c.rollout.train_batch_size]] },
  { key: 'rollout.num_generations', verl: `${AR}.rollout.n`, emit: (c) => [[`${AR}.rollout.n`, c.rollout.num_generations]] },
  { key: 'rollout.max_new_tokens', verl: 'data.max_response_length', emit: (c) => [['data.max_response_length', c.rollout.max_new_tokens]] },
  { key: 'rollout.temperature', verl: `${AR}.rollout.temperature`, emit: (c) => [[`${AR}.rollout.temperature`, c.rollout.temperature]] },
  { key: 'rollout.top_p', verl: `${AR}.rollout.top_p`, emit: (c) => [[`${AR}.rollout.top_p`, c.rollout.top_p]] },
  {
    key: 'rollout.dynamic_sampling',
    verl: 'algorithm.filter_groups.enable (metric: score)',
    emit: (c) => (c.rollout.dynamic_sampling ? [['algorithm.filter_groups.enable', true], ['algorithm.filter_groups.metric', 'score']] : [['algorithm.filter_groups.enable', false]]),
  },
  { key: 'rollout.max_resample_rounds', verl: 'algorithm.filter_groups.max_num_gen_batches (rounds + 1)', emit: (c) => (c.rollout.dynamic_sampling ? [['algorithm.filter_groups.max_num_gen_batches', c.rollout.max_resample_rounds + 1]] : []) },
  { key: 'actor.learning_rate', verl: `${AR}.actor.optim.lr`, emit: (c) => [[`${AR}.actor.optim.lr`, c.actor.learning_rate]] },
  {
    key: 'actor.lr_scheduler',
    verl: `${AR}.actor.optim.lr_scheduler_type (constant, cosine)`,
    emit: (c) => {
      const s = c.actor.lr_scheduler
      if (s === 'linear') unsupported('actor.lr_scheduler', s, 'verl 0.9 schedules constant or cosine (each with warm-up)')
      return [[`${AR}.actor.optim.lr_scheduler_type`, s === 'cosine' ? 'cosine' : 'constant']]
    },
  },
  { key: 'actor.warmup_steps', verl: `${AR}.actor.optim.lr_warmup_steps`, emit: (c) => [[`${AR}.actor.optim.lr_warmup_steps`, c.actor.warmup_steps]] },
  { key: 'actor.weight_decay', verl: `${AR}.actor.optim.weight_decay`, emit: (c) => [[`${AR}.actor.optim.weight_decay`, c.actor.weight_decay]] },
  { key: 'actor.max_grad_norm', verl: `${AR}.actor.optim.clip_grad (and actor.grad_clip)`, emit: (c) => [[`${AR}.actor.optim.clip_grad`, c.actor.max_grad_norm], [`${AR}.actor.grad_clip`, c.actor.max_grad_norm]] },
  { key: 'actor.ppo_epochs', verl: `${AR}.actor.ppo_epochs`, emit: (c) => [[`${AR}.actor.ppo_epochs`, c.actor.ppo_epochs]] },
  {
    key: 'actor.mini_batch_size',
    verl: `${AR}.actor.ppo_mini_batch_size (counted in prompts: rollouts ÷ num_generations)`,
    emit: (c) => {
      const rollouts = c.actor.mini_batch_size > 0 ? c.actor.mini_batch_size : c.rollout.train_batch_size * c.rollout.num_generations
      if (rollouts % c.rollout.num_generations !== 0) unsupported('actor.mini_batch_size', rollouts, `verl counts mini-batches in prompts, so it must be a multiple of rollout.num_generations (${c.rollout.num_generations})`)
      return [[`${AR}.actor.ppo_mini_batch_size`, rollouts / c.rollout.num_generations]]
    },
  },
  {
    key: 'actor.micro_batch_size',
    verl: `${AR}.actor.ppo_micro_batch_size_per_gpu (and the log-prob micro-batches)`,
    emit: (c) => {
      const m = c.actor.micro_batch_size
      const o: Overrides = [[`${AR}.actor.ppo_micro_batch_size_per_gpu`, m], [`${AR}.ref.log_prob_micro_batch_size_per_gpu`, m], [`${AR}.rollout.log_prob_micro_batch_size_per_gpu`, m]]
      if (usesCritic(c)) o.push(['critic.ppo_micro_batch_size_per_gpu', m])
      return o
    },
  },
  {
    key: 'actor.policy_loss',
    verl: `${AR}.actor.policy_loss.loss_mode`,
    emit: (c) => {
      if (c.actor.policy_loss !== 'vanilla') unsupported('actor.policy_loss', c.actor.policy_loss, 'verl 0.9’s vanilla loss is the PPO clip medrl calls vanilla; other medrl losses are not in verl')
      return [[`${AR}.actor.policy_loss.loss_mode`, 'vanilla']]
    },
  },
  { key: 'actor.clip_ratio_low', verl: `${AR}.actor.clip_ratio_low`, emit: (c) => [[`${AR}.actor.clip_ratio_low`, c.actor.clip_ratio_low]] },
  { key: 'actor.clip_ratio_high', verl: `${AR}.actor.clip_ratio_high`, emit: (c) => [[`${AR}.actor.clip_ratio_high`, c.actor.clip_ratio_high]] },
  { key: 'actor.clip_ratio_c', verl: `${AR}.actor.clip_ratio_c`, emit: (c) => [[`${AR}.actor.clip_ratio_c`, c.actor.clip_ratio_c]] },
  { key: 'actor.loss_agg_mode', verl: `${AR}.actor.loss_agg_mode`, emit: (c) => [[`${AR}.actor.loss_agg_mode`, c.actor.loss_agg_mode]] },
  { key: 'actor.entropy_coeff', verl: `${AR}.actor.entropy_coeff`, emit: (c) => [[`${AR}.actor.entropy_coeff`, c.actor.entropy_coeff]] },
  {
    key: 'actor.recompute_old_log_probs',
    verl: '(verl always recomputes old_log_probs)',
    emit: (c) => (c.actor.recompute_old_log_probs ? [] : unsupported('actor.recompute_old_log_probs', false, 'verl recomputes old_log_probs with the training engine')),
  },
  { key: 'actor.on_policy_shortcut', verl: '(embedded engine: verl computes old_log_probs in a pass of their own)' },
  {
    key: 'actor.lora',
    verl: `${AR}.model.lora_rank, lora_alpha, target_modules (verl's FSDP LoRA; vLLM serves the adapter)`,
    emit: (c) => {
      const l = c.actor.lora
      if (!l) return []
      if (l.rank <= 0) unsupported('actor.lora.rank', l.rank, 'the adapters need a rank of 1 or more')
      if ((l.dropout ?? 0) > 0) unsupported('actor.lora.dropout', l.dropout, 'verl 0.9\'s FSDP LoRA takes rank, alpha and target modules, no dropout')
      return [[`${AR}.model.lora_rank`, l.rank], [`${AR}.model.lora_alpha`, l.alpha ?? 2 * l.rank], [`${AR}.model.target_modules`, l.target_modules]]
    },
  },
  {
    key: 'kl.kl_coef',
    verl: 'algorithm.kl_ctrl.kl_coef (KL in the reward) or actor.kl_loss_coef (KL loss)',
    emit: (c) => {
      if (c.kl.kl_coef === 0) return [['algorithm.use_kl_in_reward', false], [`${AR}.actor.use_kl_loss`, false]]
      return klInReward(c) ? [['algorithm.use_kl_in_reward', true], ['algorithm.kl_ctrl.kl_coef', c.kl.kl_coef], [`${AR}.actor.use_kl_loss`, false]] : [['algorithm.use_kl_in_reward', false], [`${AR}.actor.use_kl_loss`, true], [`${AR}.actor.kl_loss_coef`, c.kl.kl_coef]]
    },
  },
  {
    key: 'kl.kl_estimator',
    verl: 'algorithm.kl_penalty or actor.kl_loss_type (k1 → kl, k2 → mse, k3 → low_var_kl)',
    emit: (c) => (c.kl.kl_coef === 0 ? [] : klInReward(c) ? [['algorithm.kl_penalty', getKlEstimator(c.kl.kl_estimator).verl]] : [[`${AR}.actor.kl_loss_type`, getKlEstimator(c.kl.kl_estimator).verl]]),
  },
  { key: 'kl.use_kl_in_reward', verl: 'algorithm.use_kl_in_reward (else actor.use_kl_loss)' },
  {
    key: 'advantage.estimator',
    verl: 'algorithm.adv_estimator',
    emit: (c) => {
      const e = estimatorOf(c)
      if (!['grpo', 'rloo', 'gae'].includes(e)) unsupported('advantage.estimator', e, 'medrl maps grpo, rloo and gae')
      return [['algorithm.adv_estimator', e]]
    },
  },
  {
    key: 'advantage.scale_rewards',
    verl: 'algorithm.norm_adv_by_std_in_grpo (group → true, none → false)',
    emit: (c) => {
      if (c.advantage.scale_rewards === 'batch' && estimatorOf(c) === 'grpo') unsupported('advantage.scale_rewards', 'batch', 'verl’s GRPO divides by the group std or not at all')
      return [['algorithm.norm_adv_by_std_in_grpo', c.advantage.scale_rewards === 'group']]
    },
  },
  { key: 'advantage.gamma', verl: 'algorithm.gamma', emit: (c) => [['algorithm.gamma', c.advantage.gamma]] },
  { key: 'advantage.lam', verl: 'algorithm.lam', emit: (c) => [['algorithm.lam', c.advantage.lam]] },
  {
    key: 'advantage.whiten',
    verl: '(verl whitens GAE advantages)',
    emit: (c) => (c.advantage.whiten || !usesCritic(c) ? [] : unsupported('advantage.whiten', false, 'verl always whitens GAE advantages over the batch')),
  },
  { key: 'critic.vf_coef', verl: '-', none: 'verl’s critic is a separate model with its own optimizer (set verl.critic_learning_rate instead)' },
  { key: 'critic.cliprange_value', verl: 'critic.cliprange_value', emit: (c) => (usesCritic(c) ? [['critic.cliprange_value', c.critic.cliprange_value]] : []) },
  {
    key: 'trainer.save_steps',
    verl: 'trainer.save_freq (0 → at the last step)',
    emit: (c, p) => [['trainer.save_freq', c.trainer.save_steps > 0 ? c.trainer.save_steps : c.total_steps], ['trainer.default_local_dir', p.checkpointDir]],
  },
  { key: 'trainer.save_total_limit', verl: 'trainer.max_actor_ckpt_to_keep, max_critic_ckpt_to_keep', emit: (c) => [['trainer.max_actor_ckpt_to_keep', c.trainer.save_total_limit], ['trainer.max_critic_ckpt_to_keep', c.trainer.save_total_limit]] },
  {
    key: 'trainer.eval_steps',
    verl: 'trainer.test_freq, trainer.val_before_train',
    emit: (c, p) => {
      const on = c.trainer.eval_steps > 0 && p.hasVal
      return [['trainer.test_freq', on ? c.trainer.eval_steps : -1], ['trainer.val_before_train', on]]
    },
  },
  { key: 'trainer.log_samples', verl: '(medrl: samples.jsonl from verl’s rollout dumps)' },
  { key: 'trainer.checkpoint_dtype', verl: '-', none: 'verl writes FSDP shards; `medrl verl export` merges them into a Hugging Face directory' },
  { key: 'trainer.release_programs', verl: '(embedded engine only: verl’s workers manage their own memory)' },
  { key: 'verl.nnodes', verl: 'trainer.nnodes', emit: (c) => [['trainer.nnodes', c.verl.nnodes]] },
  { key: 'verl.n_gpus_per_node', verl: 'trainer.n_gpus_per_node', emit: (c) => [['trainer.n_gpus_per_node', c.verl.n_gpus_per_node]] },
  { key: 'verl.rollout_name', verl: `${AR}.rollout.name`, emit: (c) => [[`${AR}.rollout.name`, c.verl.rollout_name]] },
  { key: 'verl.tensor_model_parallel_size', verl: `${AR}.rollout.tensor_model_parallel_size`, emit: (c) => opt(`${AR}.rollout.tensor_model_parallel_size`, c.verl.tensor_model_parallel_size) },
  { key: 'verl.gpu_memory_utilization', verl: `${AR}.rollout.gpu_memory_utilization`, emit: (c) => opt(`${AR}.rollout.gpu_memory_utilization`, c.verl.gpu_memory_utilization) },
  {
    key: 'verl.param_offload',
    verl: `${AR}.actor/ref.fsdp_config.param_offload, critic.fsdp.param_offload`,
    emit: (c) => (c.verl.param_offload === undefined ? [] : [[`${AR}.actor.fsdp_config.param_offload`, c.verl.param_offload], [`${AR}.ref.fsdp_config.param_offload`, c.verl.param_offload], ...(usesCritic(c) ? ([['critic.fsdp.param_offload', c.verl.param_offload]] as Overrides) : [])]),
  },
  {
    key: 'verl.optimizer_offload',
    verl: `${AR}.actor.fsdp_config.optimizer_offload, critic.fsdp.optimizer_offload`,
    emit: (c) => (c.verl.optimizer_offload === undefined ? [] : [[`${AR}.actor.fsdp_config.optimizer_offload`, c.verl.optimizer_offload], ...(usesCritic(c) ? ([['critic.fsdp.optimizer_offload', c.verl.optimizer_offload]] as Overrides) : [])]),
  },
  {
    key: 'verl.gradient_checkpointing',
    verl: `${AR}.model.enable_gradient_checkpointing (and the critic’s)`,
    emit: (c) => (c.verl.gradient_checkpointing === undefined ? [] : [[`${AR}.model.enable_gradient_checkpointing`, c.verl.gradient_checkpointing], ...(usesCritic(c) ? ([['critic.model.enable_gradient_checkpointing', c.verl.gradient_checkpointing]] as Overrides) : [])]),
  },
  { key: 'verl.critic_model_path', verl: 'critic.model.path' },
  { key: 'verl.critic_learning_rate', verl: 'critic.optim.lr', emit: (c) => (usesCritic(c) ? opt('critic.optim.lr', c.verl.critic_learning_rate) : []) },
  { key: 'verl.project_name', verl: 'trainer.project_name', emit: (c) => [['trainer.project_name', c.verl.project_name]] },
  { key: 'verl.experiment_name', verl: 'trainer.experiment_name', emit: (_, p) => [['trainer.experiment_name', p.experimentName]] },
  { key: 'verl.ray_address', verl: '(run.sh: ray job submit --address)' },
  { key: 'verl.reward_url', verl: '(reward.py: MEDRL_REWARD_URL)' },
  { key: 'verl.reward_workers', verl: 'reward.num_workers', emit: (c) => opt('reward.num_workers', c.verl.reward_workers) },
  { key: 'verl.overrides', verl: '(appended as they are, after medrl’s)' },
]

function opt(key: string, v: unknown): Overrides {
  return v === undefined ? [] : [[key, v]]
}

/** The verl name of a medrl key, for --help-config. */
export function verlNameOf(key: string): string | undefined {
  return KEY_MAP.find((m) => m.key === key)?.verl
}

function valueAt(obj: unknown, key: string): unknown {
  let o: unknown = obj
  for (const k of key.split('.')) {
    if (o === null || typeof o !== 'object' || !Object.hasOwn(o, k)) return undefined
    o = (o as Record<string, unknown>)[k]
  }
  return o
}

/** The config's defaults (what a run's saved config.yaml holds for every key nobody set). */
const DEFAULTS: unknown = TrainConfigSchema.parse({})

/**
 * Whether the config as written sets `key` to something other than its default: a resumed run reads its resolved
 * config.yaml, which holds every default, and those say nothing verl must honour.
 */
function isSet(raw: Record<string, unknown>, key: string): boolean {
  const v = valueAt(raw, key)
  return v !== undefined && JSON.stringify(v) !== JSON.stringify(valueAt(DEFAULTS, key))
}

/**
 * The overrides a medrl config becomes (key → value, in the table's order), after refusing every key the
 * user set that verl has no equivalent for. `raw` is the config as written (before defaults), to tell which
 * keys were set.
 */
export function mapConfig(c: TrainConfig, raw: Record<string, unknown>, paths: VerlPaths): Overrides {
  if (!c.model.path) throw new Error('model.path: verl needs a model to start from (a Hugging Face id or a path on the cluster)')
  if (c.data.files.length === 0) throw new Error('data.files: verl trains on question files; give data.files')
  for (const m of KEY_MAP) if (m.none !== undefined && isSet(raw, m.key)) throw new Error(`${m.key}: no verl equivalent: ${m.none}`)
  const out: Overrides = []
  for (const m of KEY_MAP) out.push(...(m.emit?.(c, paths) ?? []))
  return out
}
