import { z } from 'zod'
import { DEFAULT_TEMPLATE, templateHelp } from '../defaults.js'
import { parseWithSchema, readRawConfig, VerlClusterFields } from '../rl/config.js'
import { templateNames } from '../reward/templates.js'
import { LoraSchema } from '../model/lora.js'

/**
 * Every option of a supervised fine-tuning run (TRL's SFTConfig pattern), in the same sections and with the
 * same names as `medrl train` where they mean the same. `medrl sft --help-config` prints them.
 */
export const SftConfigSchema = z
  .object({
    engine: z.enum(['embedded', 'verl']).default('embedded').describe('who trains: the embedded CPU engine, or verl’s SFT trainer (torchrun, FSDP) on GPUs'),
    seed: z.number().int().default(0).describe('seed of the data order and the option shuffles'),
    total_steps: z.number().int().positive().default(100).describe('optimizer steps'),
    model: z
      .object({
        path: z.string().describe('the model to fine-tune (Hugging Face layout, with tokenizer.json)'),
        lora: LoraSchema.optional().describe('train low-rank adapters (PEFT LoRA: rank, alpha, target_modules, dropout) instead of every weight; checkpoints are PEFT adapters'),
      })
      .strict(),
    data: z
      .object({
        files: z.array(z.string()).min(1).describe('training questions (any layout medrl imports)'),
        val_files: z.array(z.string()).default([]).describe('held-out questions: their loss is measured every trainer.eval_steps'),
        template: z
          .string()
          .default(DEFAULT_TEMPLATE.rl.name)
          .refine((t) => templateNames().includes(t), { message: `expected a template: ${templateNames().join(', ')}` })
          .describe(templateHelp(DEFAULT_TEMPLATE.rl, 'prompt template; the target is written in its answer format')),
        target: z.enum(['answer', 'reasoning']).default('answer').describe('answer: the answer alone (Med-RLVR’s SFT baseline); reasoning: meta.rationale before it, where records have one'),
        shuffle_options: z.boolean().default(false).describe('shuffle the options at every visit, so the letter carries no prior'),
        max_length: z.number().int().positive().default(1024).describe('prompt + target tokens at most (longer examples are left out, and said so)'),
        shuffle: z.boolean().default(true).describe('a seeded new order every epoch'),
      })
      .strict(),
    optim: z
      .object({
        learning_rate: z.number().positive().default(1e-5).describe('peak learning rate'),
        lr_scheduler: z.enum(['constant', 'constant_with_warmup', 'linear', 'cosine']).default('cosine').describe('learning-rate schedule'),
        warmup_steps: z.number().int().min(0).default(0).describe('linear warm-up steps'),
        weight_decay: z.number().min(0).default(0.01).describe('AdamW decoupled weight decay (norms and biases excluded)'),
        max_grad_norm: z.number().positive().default(1).describe('clip gradients to this global norm'),
        train_batch_size: z.number().int().positive().default(16).describe('examples per optimizer step'),
        micro_batch_size: z.number().int().positive().default(16).describe('examples per forward/backward (gradients accumulate to train_batch_size)'),
      })
      .strict()
      .prefault({}),
    trainer: z
      .object({
        save_steps: z.number().int().min(0).default(50).describe('checkpoint every N steps (and at the end); 0: only at the end'),
        save_total_limit: z.number().int().positive().default(2).describe('checkpoints kept'),
        eval_steps: z.number().int().min(0).default(10).describe('held-out loss every N steps (and at the end); 0: never'),
        checkpoint_dtype: z.enum(['F32', 'BF16']).default('F32').describe('dtype of the saved weights'),
      })
      .strict()
      .prefault({}),
    verl: z.object(VerlClusterFields).strict().prefault({}).describe('engine: verl only'),
  })
  .strict()

export type SftConfig = z.infer<typeof SftConfigSchema>

export function parseSftConfig(raw: unknown, where = 'config'): SftConfig {
  const c = parseWithSchema(SftConfigSchema, raw, where)
  if (c.optim.train_batch_size % c.optim.micro_batch_size !== 0) throw new Error(`${where}: optim.micro_batch_size ${c.optim.micro_batch_size} must divide optim.train_batch_size ${c.optim.train_batch_size}`)
  return c
}

export function readSftConfig(path: string, sets: readonly string[] = []): { raw: Record<string, unknown>; cfg: SftConfig } {
  const raw = readRawConfig(path, sets)
  return { raw, cfg: parseSftConfig(raw, path) }
}
