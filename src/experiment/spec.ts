import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import YAML from 'yaml'
import { z } from 'zod'
import { existsSync } from 'node:fs'
import { VllmSettingsSchema } from '../backends/vllm.js'
import { parseLevels } from '../difficulty/subsets.js'
import { resolveSuites } from '../eval/suites.js'
import { parseWithSchema } from '../rl/config.js'

/**
 * An experiment: a grid of training runs (variants × seeds) that differ only in their data recipe, with
 * the training and evaluation settings they share, written in one YAML file.
 */

const SERVER = z.enum(['embedded', 'vllm']).default('embedded')

const levels = z.union([z.string(), z.array(z.number().int().positive())]).describe('levels, e.g. "1-3" or [1, 2, 3]')

const SubsetSchema = z
  .object({
    levels,
    per_level: z.number().int().positive().optional().describe('questions per level (per source with mix: add)'),
    total: z.number().int().positive().optional().describe('instead of per_level: this many questions drawn at random from the levels and sources, not balanced'),
    sources: z.array(z.string()).default([]).describe('sources to draw from (all when empty)'),
    weights: z.record(z.string(), z.number().positive()).optional().describe('mixing weights per source (mix: split)'),
    mix: z.enum(['split', 'add', 'pool']).default('pool').describe('pool: per_level from each level whatever the source; split: per_level divided among sources; add: each source gives per_level'),
    question_tokens: z
      .object({ min: z.number().int().nonnegative().optional(), max: z.number().int().positive().optional() })
      .strict()
      .optional()
      .describe("informativeness filter: question length in tokens of the policy's tokenizer"),
  })
  .strict()

const VariantSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only (it names a directory)'),
    x: z.number().optional().describe("the variant's value on the figure's x axis (e.g. the highest level included)"),
    method: z.enum(['rl', 'sft']).default('rl').describe('rl: medrl train with the spec’s train config; sft: medrl sft with its sft config'),
    train: z.record(z.string(), z.unknown()).default({}).describe('overrides of the spec’s train config for this variant (e.g. algorithm: ppo)'),
    subset: SubsetSchema,
  })
  .strict()

export const ExperimentSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().default(''),
    /** The paper's finding this experiment checks, in one sentence (shown on the report page). */
    finding: z.string().default(''),
    seeds: z.array(z.number().int()).min(1),
    baseline: z.string().describe('the variant every other is compared with'),
    x_title: z.string().default('variant'),
    testbed: z
      .object({
        seed: z.number().int().default(0),
        eval_sets: z.array(z.enum(['heldout', 'id', 'style'])).min(1).default(['heldout']).describe('heldout: held-out diseases; id: unseen vignettes of training diseases; style: held-out diseases in a wording never trained on'),
      })
      .strict()
      .optional()
      .describe("the clinical testbed's questions and its committed base model"),
    base: z.string().optional().describe('a base model directory (instead of the testbed base)'),
    train_files: z.array(z.string()).default([]).describe('the question pool (instead of the testbed training questions)'),
    eval_files: z.array(z.string()).default([]).describe('held-out questions (instead of the testbed held-out questions)'),
    template: z.string().default('r1-text'),
    difficulty: z
      .object({
        k: z.number().int().positive().default(5),
        max_new_tokens: z.number().int().positive().default(64),
        temperature: z.number().positive().default(1),
        server: SERVER.describe('who generates the base model’s samples (and its evaluation): embedded, or vllm servers medrl starts (settings under vllm)'),
        endpoint: z.array(z.string()).default([]).describe('instead: OpenAI-compatible servers already serving the base (its difficulty levels and evaluation go there)'),
        served_model_name: z.string().optional().describe('with endpoint: the model name those servers serve (default: the first they list)'),
      })
      .strict()
      .prefault({}),
    eval: z
      .object({
        max_new_tokens: z.number().int().positive().default(64),
        mode: z.enum(['lenient', 'strict']).default('lenient'),
        server: SERVER.describe('who generates each cell’s answers: embedded, or vllm servers medrl starts on the cell’s checkpoint (settings under vllm)'),
        benchmarks: z.array(z.string()).default([]).describe('evaluation sets: benchmark names (medqa, medmcqa, pubmedqa, mmlu-prom, gpqa-med, medxpert, …) or NAME=FILE; the first is the primary measure (instead of eval_files)'),
        step: z.number().int().positive().optional().describe('the checkpoint step evaluated (default: the last)'),
      })
      .strict()
      .prefault({}),
    vllm: VllmSettingsSchema.prefault({}).describe('the vLLM servers medrl starts when difficulty.server or eval.server is vllm'),
    estimate: z
      .object({
        rl_seconds_per_step: z.number().positive().optional().describe('wall seconds of one RL step, for --plan until a cell has measured it'),
        sft_seconds_per_step: z.number().positive().optional().describe('wall seconds of one SFT step, likewise'),
        eval_minutes_per_cell: z.number().positive().optional().describe('wall minutes to export, serve and evaluate one cell'),
        source: z.string().optional().describe('where these figures come from (shown by --plan)'),
      })
      .strict()
      .prefault({})
      .describe('figures --plan turns into GPU-hours'),
    /** A `medrl train` config without model.path, data.files, data.template and seed (the experiment sets those). */
    train: z.record(z.string(), z.unknown()).default({}),
    /** A `medrl sft` config without model.path, data.files, data.template and seed, for variants with method: sft. */
    sft: z.record(z.string(), z.unknown()).default({}),
    variants: z.array(VariantSchema).min(1),
  })
  .strict()

export type ExperimentSpec = z.infer<typeof ExperimentSchema>
export type VariantSpec = ExperimentSpec['variants'][number]

/** A variant's levels as a list. */
export function variantLevels(v: VariantSpec, where: string): number[] {
  return typeof v.subset.levels === 'string' ? parseLevels(v.subset.levels, `${where}: variants.${v.name}.subset.levels`) : v.subset.levels
}

/**
 * A base given as a path is resolved against the spec's directory; a Hugging Face id (org/name, no such path
 * here) stays as it is, for the stages that run elsewhere (verl, vLLM) to load.
 */
export function resolveBase(base: string, dir: string): string {
  const local = resolve(dir, base)
  return existsSync(local) || !HUB_ID.test(base) ? local : base
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/

/** Whether a base names a model directory on this machine (not a hub id). */
export function baseIsLocal(base: string): boolean {
  return existsSync(base)
}

/** Reads and checks a spec; relative paths in it are resolved against the spec's directory. Errors name the file and the field. */
export function readExperimentSpec(path: string): ExperimentSpec {
  let raw: unknown
  try {
    raw = YAML.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    throw new Error(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`)
  }
  const spec = parseWithSchema(ExperimentSchema, raw, path)
  const names = spec.variants.map((v) => v.name)
  const dup = names.find((n, i) => names.indexOf(n) !== i)
  if (dup) throw new Error(`${path}: variants: "${dup}" appears twice`)
  if (!names.includes(spec.baseline)) throw new Error(`${path}: baseline: "${spec.baseline}" is not a variant (${names.join(', ')})`)
  if (!spec.testbed === !spec.base) throw new Error(`${path}: give either testbed (the clinical testbed and its base) or base (a model directory), not ${spec.testbed ? 'both' : 'neither'}`)
  if (spec.base && (spec.train_files.length === 0 || (spec.eval_files.length === 0 && spec.eval.benchmarks.length === 0))) throw new Error(`${path}: with base, give train_files (the question pool) and eval_files (held-out questions) or eval.benchmarks`)
  if (spec.testbed && spec.eval.benchmarks.length > 0) throw new Error(`${path}: eval.benchmarks: the testbed evaluates on its own held-out sets (testbed.eval_sets)`)
  if (spec.eval_files.length > 0 && spec.eval.benchmarks.length > 0) throw new Error(`${path}: give eval_files or eval.benchmarks, not both`)
  try {
    resolveSuites(spec.eval.benchmarks)
  } catch (e) {
    throw new Error(`${path}: eval.benchmarks: ${(e as Error).message}`)
  }
  if (spec.difficulty.endpoint.length > 0 && spec.difficulty.server !== 'embedded') throw new Error(`${path}: difficulty: give endpoint (servers you run) or server: vllm (servers medrl starts), not both`)
  // What every cell's config gets from the experiment itself may not be set in its sections.
  const sections: [string, Record<string, unknown>][] = [['train', spec.train], ['sft', spec.sft], ...spec.variants.map((v): [string, Record<string, unknown>] => [`variants.${v.name}.train`, v.train])]
  for (const [where, cfg] of sections) {
    for (const key of ['seed', 'model'] as const) if (key in cfg) throw new Error(`${path}: ${where}.${key}: the experiment sets it (from seeds, and from testbed or base)`)
    const data = cfg.data as Record<string, unknown> | undefined
    for (const key of ['files', 'template'] as const) if (data && key in data) throw new Error(`${path}: ${where}.data.${key}: the experiment sets it (each variant's subset; template at the top level)`)
  }
  for (const v of spec.variants) {
    variantLevels(v, path)
    if ((v.subset.per_level === undefined) === (v.subset.total === undefined)) throw new Error(`${path}: variants.${v.name}.subset: give per_level (balanced by level) or total (drawn at random), one of them`)
  }
  const dir = dirname(resolve(path))
  return {
    ...spec,
    base: spec.base && resolveBase(spec.base, dir),
    train_files: spec.train_files.map((f) => resolve(dir, f)),
    eval_files: spec.eval_files.map((f) => resolve(dir, f)),
  }
}
