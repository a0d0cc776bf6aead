import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { z } from 'zod'
import { Tensor, sizeOf } from '../engine/tensor.js'
import { writeFileAtomic } from '../util/atomic.js'
import { Rng } from '../util/rng.js'
import { parameterShapes, type ModelConfig } from './config.js'
import { SafetensorsFile, writeSafetensors } from './safetensors.js'

/**
 * Low-rank adapters (LoRA, Hu et al. 2021) on a decoder's linear layers, as PEFT defines them: for a target
 * module with weight W [out, in], y = x·Wᵀ + (alpha / rank)·(x·Aᵀ)·Bᵀ with A [rank, in] and B [out, rank]. A starts
 * as PEFT's default (Kaiming-uniform with a = √5: U(−1/√in, 1/√in)) and B at zero, so a new adapter changes
 * nothing; only A and B train, and the base weights stay as they were (the reference policy is the base with the
 * adapters off).
 */

/** PEFT's names for a decoder's linear layers; `all-linear` takes every one of them (not the output layer). */
export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const

export const LoraSchema = z
  .object({
    rank: z.number().int().describe('the adapters’ rank r (PEFT r)'),
    alpha: z.number().positive().optional().describe('scale numerator: the update is alpha / rank × B·A (PEFT lora_alpha; default 2 × rank)'),
    target_modules: z.union([z.literal('all-linear'), z.array(z.string()).min(1)]).default('all-linear').describe(`linear layers that get adapters: ${LORA_TARGETS.join(', ')}, or all-linear`),
    dropout: z.number().min(0).max(1).default(0).describe('dropout on the adapters’ input (PEFT lora_dropout; the embedded engine trains with 0)'),
  })
  .strict()

export type LoraSettings = z.input<typeof LoraSchema>

/** A model's adapters: which modules, their shapes, and the scale. */
export interface LoraSpec {
  rank: number
  alpha: number
  scale: number
  /** PEFT's target_modules as resolved: the module names (q_proj, …). */
  targetModules: string[]
  /** Every adapted module by its full name (model.layers.0.self_attn.q_proj) with W's [out, in]. */
  modules: { name: string; out: number; in: number }[]
}

/** The adapters' spec for a model, checked: rank > 0, known target modules, dropout 0 (what the engine trains). */
export function loraSpec(c: ModelConfig, s: LoraSettings, where = 'lora'): LoraSpec {
  const parsed = LoraSchema.parse(s)
  if (parsed.rank <= 0) throw new Error(`${where}.rank: ${parsed.rank}: the adapters need a rank of 1 or more`)
  if (parsed.dropout !== 0) throw new Error(`${where}.dropout: ${parsed.dropout}: the embedded engine trains adapters without dropout (0); verl's LoRA takes dropout`)
  const targets = parsed.target_modules === 'all-linear' ? [...LORA_TARGETS] : parsed.target_modules
  const unknown = targets.filter((t) => !(LORA_TARGETS as readonly string[]).includes(t))
  if (unknown.length > 0) throw new Error(`${where}.target_modules: ${unknown.join(', ')}: this ${c.architecture} model has no such module (it has ${LORA_TARGETS.join(', ')}, or all-linear)`)
  const shapes = parameterShapes(c)
  const modules = Object.keys(shapes)
    .filter((n) => n.endsWith('.weight') && targets.some((t) => n.endsWith(`.${t}.weight`)))
    .map((n) => ({ name: n.slice(0, -'.weight'.length), out: shapes[n]![0]!, in: shapes[n]![1]! }))
  const alpha = parsed.alpha ?? 2 * parsed.rank
  return { rank: parsed.rank, alpha, scale: alpha / parsed.rank, targetModules: targets, modules }
}

/** The adapter tensors' shapes by medrl's names (`<module>.lora_A.weight` [r, in], `<module>.lora_B.weight` [out, r]). */
export function loraShapes(spec: LoraSpec): Record<string, number[]> {
  const out: Record<string, number[]> = {}
  for (const m of spec.modules) {
    out[`${m.name}.lora_A.weight`] = [spec.rank, m.in]
    out[`${m.name}.lora_B.weight`] = [m.out, spec.rank]
  }
  return out
}

/** New adapters as PEFT initializes them: A ~ U(−1/√in, 1/√in) (Kaiming-uniform, a = √5), B = 0. Seeded. */
export function initLora(spec: LoraSpec, seed: number): Record<string, Tensor> {
  const rng = new Rng(seed)
  const out: Record<string, Tensor> = {}
  for (const [name, shape] of Object.entries(loraShapes(spec))) {
    const data = new Float32Array(sizeOf(shape))
    if (name.endsWith('lora_A.weight')) {
      const bound = 1 / Math.sqrt(shape[1]!)
      for (let i = 0; i < data.length; i++) data[i] = (2 * rng.next() - 1) * bound
    }
    out[name] = new Tensor('float32', data, shape)
  }
  return out
}

/** W + (alpha / r)·B·A for every adapted module; the other weights as they are (new tensors only where merged). */
export function mergeLora(weights: Record<string, Tensor>, spec: LoraSpec, adapters: Record<string, Tensor>): Record<string, Tensor> {
  const out = { ...weights }
  for (const m of spec.modules) {
    const w = weights[`${m.name}.weight`]!.data as Float32Array
    const a = adapters[`${m.name}.lora_A.weight`]!.data as Float32Array
    const b = adapters[`${m.name}.lora_B.weight`]!.data as Float32Array
    const r = spec.rank
    const merged = new Float32Array(w.length)
    const row = new Float64Array(m.in)
    for (let o = 0; o < m.out; o++) {
      row.fill(0)
      for (let k = 0; k < r; k++) {
        const bk = b[o * r + k]!
        if (bk === 0) continue
        const ak = k * m.in
        for (let i = 0; i < m.in; i++) row[i]! += bk * a[ak + i]!
      }
      const wo = o * m.in
      for (let i = 0; i < m.in; i++) merged[wo + i] = w[wo + i]! + spec.scale * row[i]!
    }
    out[`${m.name}.weight`] = new Tensor('float32', merged, [m.out, m.in])
  }
  return out
}

// ---------------------------------------------------------------- PEFT's layout

export const ADAPTER_CONFIG = 'adapter_config.json'
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors'
/** PEFT saves a causal LM's adapters under the LoraModel's `base_model.model.` prefix, without the adapter name. */
const PEFT_PREFIX = 'base_model.model.'

export function isAdapterDir(dir: string): boolean {
  return existsSync(join(dir, ADAPTER_CONFIG))
}

/**
 * Writes adapters as PEFT saves them (`save_pretrained`): adapter_config.json (peft_type LORA, task_type CAUSAL_LM,
 * r, lora_alpha, lora_dropout, target_modules, base_model_name_or_path, …) and adapter_model.safetensors with
 * PEFT's tensor names (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`), so `peft` and vLLM's
 * `--enable-lora` load them as they are.
 */
export function saveAdapter(dir: string, spec: LoraSpec, adapters: Record<string, Tensor>, o: { baseModel: string; dtype?: 'F32' | 'BF16' }): void {
  mkdirSync(dir, { recursive: true })
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: o.baseModel,
    r: spec.rank,
    lora_alpha: spec.alpha,
    lora_dropout: 0,
    target_modules: spec.targetModules,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    use_rslora: false,
    use_dora: false,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    revision: null,
  }
  writeFileAtomic(join(dir, ADAPTER_CONFIG), `${JSON.stringify(config, null, 2)}\n`)
  const named = Object.fromEntries(Object.entries(adapters).map(([k, t]) => [`${PEFT_PREFIX}${k}`, t]))
  writeSafetensors(join(dir, ADAPTER_WEIGHTS), named, { dtype: o.dtype ?? 'F32', metadata: { format: 'pt' } })
}

/** An adapter directory as read: its settings, the base it was trained on, and its tensors by medrl's names. */
export interface LoadedAdapter {
  dir: string
  settings: { rank: number; alpha: number; target_modules: string[] | 'all-linear' }
  /** base_model_name_or_path, resolved against the adapter's directory when it is a relative path (null when it names none). */
  baseModel: string | null
  weights: Record<string, Tensor>
}

/** Reads a PEFT LoRA adapter directory; anything but a plain LoRA on a causal LM is refused, naming the field. */
export function readAdapter(dir: string): LoadedAdapter {
  const cfgPath = join(dir, ADAPTER_CONFIG)
  let cfg: Record<string, unknown>
  try {
    cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>
  } catch (e) {
    throw new Error(`${cfgPath}: ${(e as Error).message}`)
  }
  if (cfg.peft_type !== undefined && cfg.peft_type !== 'LORA') throw new Error(`${cfgPath}: "peft_type" ${JSON.stringify(cfg.peft_type)}: only LORA adapters are read`)
  if (cfg.use_dora === true) throw new Error(`${cfgPath}: "use_dora": DoRA adapters are not read`)
  if (cfg.use_rslora === true) throw new Error(`${cfgPath}: "use_rslora": rank-stabilized scaling is not read`)
  if (typeof cfg.r !== 'number' || cfg.r <= 0) throw new Error(`${cfgPath}: "r" must be a positive number, got ${JSON.stringify(cfg.r)}`)
  const base = typeof cfg.base_model_name_or_path === 'string' && cfg.base_model_name_or_path !== '' ? cfg.base_model_name_or_path : null
  const targets = cfg.target_modules
  const target_modules = targets === 'all-linear' ? 'all-linear' : Array.isArray(targets) ? (targets as string[]) : typeof targets === 'string' ? [targets] : null
  if (!target_modules) throw new Error(`${cfgPath}: "target_modules" must be a list of module names or all-linear`)
  const file = join(dir, ADAPTER_WEIGHTS)
  if (!existsSync(file)) throw new Error(`${dir}: no ${ADAPTER_WEIGHTS}`)
  const st = new SafetensorsFile(file)
  const weights: Record<string, Tensor> = {}
  try {
    for (const n of st.names()) {
      // PEFT's names, with or without the adapter name ("…lora_A.default.weight" in a state dict).
      const key = n.replace(/^base_model\.model\./, '').replace(/\.lora_([AB])\.default\.weight$/, '.lora_$1.weight')
      weights[key] = st.read(n)
    }
  } finally {
    st.close()
  }
  const baseModel = base !== null && !isAbsolute(base) && existsSync(resolve(dir, base)) ? resolve(dir, base) : base
  return { dir, settings: { rank: cfg.r, alpha: typeof cfg.lora_alpha === 'number' ? cfg.lora_alpha : cfg.r, target_modules }, baseModel, weights }
}

/** Checks an adapter's tensors against the spec its config gives on this base: every module present, every shape right. */
export function checkAdapter(a: LoadedAdapter, spec: LoraSpec, baseDir: string): void {
  const shapes = loraShapes(spec)
  for (const [name, shape] of Object.entries(shapes)) {
    const t = a.weights[name]
    if (!t) throw new Error(`${a.dir}: the adapter has no ${name}: it was not trained on ${baseDir}'s architecture (target_modules ${spec.targetModules.join(', ')})`)
    if (t.shape.join(',') !== shape.join(',')) throw new Error(`${a.dir}: ${name} is [${t.shape.join(', ')}], ${baseDir} needs [${shape.join(', ')}]: the adapter was trained on another base`)
  }
  const extra = Object.keys(a.weights).filter((n) => !(n in shapes))
  if (extra.length > 0) throw new Error(`${a.dir}: tensors this base has no module for: ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? '…' : ''}`)
}
