import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { writeFileAtomic } from '../util/atomic.js'
import type { Tensor } from '../engine/tensor.js'
import { CausalLM, randomWeights } from './causal-lm.js'
import { configToJson, parameterCount, parameterShapes, parseConfig, type ModelConfig } from './config.js'
import { readWeights, weightFiles, writeWeights, type StorageDType } from './safetensors.js'
import { ADAPTER_CONFIG, checkAdapter, initLora, isAdapterDir, loraSpec, mergeLora, readAdapter, type LoraSettings } from './lora.js'
import { TextTokenizer } from './tokenizer.js'

export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'generation_config.json']

export function readConfig(dir: string): ModelConfig {
  const path = join(dir, 'config.json')
  if (!existsSync(path)) throw new Error(`${dir}: no config.json`)
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`)
  }
  try {
    return parseConfig(raw)
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message.replace(/^config\.json: /, '')}`)
  }
}

/**
 * Checkpoint tensors transformers itself ignores: rotary inv_freq buffers saved by old versions, and
 * lm_head.weight when the head is tied to the embedding.
 */
function ignorable(name: string, c: ModelConfig): boolean {
  return name.endsWith('rotary_emb.inv_freq') || (c.tie_word_embeddings && name === 'lm_head.weight')
}

export interface LoadedModel {
  dir: string
  config: ModelConfig
  model: CausalLM
  /** Stored dtype of each tensor. */
  dtypes: Record<string, string>
  /** Null when the directory has no tokenizer.json (the model still runs from ids). */
  tokenizer: TextTokenizer | null
  /** When `dir` held a LoRA adapter: the base model directory it was loaded on. */
  adapterBase?: string
}

/**
 * Loads a Hugging Face model directory: config.json, safetensors (single or sharded), tokenizer if present. A PEFT
 * LoRA adapter directory (adapter_config.json) loads on its base (base_model_name_or_path, or `base`), merged into
 * its weights by default (what evaluation, serving and export want); `adapters: 'keep'` keeps them apart (to train on).
 */
export function loadModel(dir: string, o: { adapters?: 'merge' | 'keep'; base?: string } = {}): LoadedModel {
  if (isAdapterDir(dir)) return loadAdapter(dir, o.adapters ?? 'merge', o.base)
  const config = readConfig(dir)
  const { weights, dtypes } = readWeights(dir)
  for (const n of Object.keys(weights)) if (ignorable(n, config)) delete weights[n]
  const model = new CausalLM(config, weights)
  const tokenizer = existsSync(join(dir, 'tokenizer.json')) ? TextTokenizer.fromDir(dir) : null
  return { dir, config, model, dtypes, tokenizer }
}

/**
 * The model of a LoRA run: the loaded base's weights with adapters, new (PEFT's initialization, seeded) or those of
 * the checkpoint resumed from, which must have been trained on this base (`where` names the config key).
 */
export function withAdapters(base: LoadedModel, settings: LoraSettings, where: string, resumeFrom: string | null, seed: number): CausalLM {
  const spec = loraSpec(base.config, settings, where)
  if (!resumeFrom) return new CausalLM(base.config, base.model.weights, { spec, weights: initLora(spec, seed) })
  const a = readAdapter(resumeFrom)
  if (a.baseModel === null || resolve(a.baseModel) !== resolve(base.dir)) throw new Error(`${resumeFrom}: its adapter was trained on ${a.baseModel ?? '(no base named)'}, not on model.path ${base.dir}`)
  checkAdapter(a, spec, base.dir)
  return new CausalLM(base.config, base.model.weights, { spec, weights: a.weights })
}

function loadAdapter(dir: string, mode: 'merge' | 'keep', baseOverride?: string): LoadedModel {
  const a = readAdapter(dir)
  const baseDir = baseOverride ?? a.baseModel
  if (baseDir === null) throw new Error(`${dir}: ${ADAPTER_CONFIG} names no base model (base_model_name_or_path): give the base with --base DIR`)
  if (!existsSync(join(baseDir, 'config.json'))) throw new Error(`${dir}: its base model ${baseDir} (base_model_name_or_path in ${ADAPTER_CONFIG}) is not a model directory here: give the base with --base DIR`)
  const base = loadModel(baseDir)
  const spec = loraSpec(base.config, { rank: a.settings.rank, alpha: a.settings.alpha, target_modules: a.settings.target_modules }, join(dir, ADAPTER_CONFIG))
  checkAdapter(a, spec, baseDir)
  const model = mode === 'merge' ? new CausalLM(base.config, mergeLora(base.model.weights, spec, a.weights)) : new CausalLM(base.config, base.model.weights, { spec, weights: a.weights })
  const tokenizer = existsSync(join(dir, 'tokenizer.json')) ? TextTokenizer.fromDir(dir) : base.tokenizer
  return { dir, config: base.config, model, dtypes: base.dtypes, tokenizer, adapterBase: baseDir }
}

/**
 * `medrl model merge`: a LoRA adapter directory merged into its base (W + alpha/r·B·A) and written as a Hugging Face
 * model directory (under a temporary name, then renamed), with the tokenizer files of the adapter or else the base.
 */
export function mergeAdapterDir(adapterDir: string, out: string, o: { base?: string; dtype?: StorageDType } = {}): { dir: string; base: string; modules: number } {
  if (!isAdapterDir(adapterDir)) throw new Error(`${adapterDir}: no ${ADAPTER_CONFIG} (not a LoRA adapter directory)`)
  if (existsSync(out) && readdirSync(out).length > 0) throw new Error(`${out}: already exists and is not empty`)
  const loaded = loadModel(adapterDir, { adapters: 'merge', base: o.base })
  const tmp = `${resolve(out)}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  saveModel(tmp, loaded.config, loaded.model.weights, { dtype: o.dtype, tokenizerFrom: existsSync(join(adapterDir, 'tokenizer.json')) ? adapterDir : loaded.adapterBase })
  rmSync(out, { recursive: true, force: true })
  renameSync(tmp, out)
  const modules = readAdapter(adapterDir).weights
  return { dir: out, base: loaded.adapterBase!, modules: Object.keys(modules).length / 2 }
}

/** Copies the tokenizer files a model directory has into another (none when `from` is missing or the same). */
export function copyTokenizerFiles(from: string | undefined, dir: string): string[] {
  if (!from || from === dir) return []
  const copied: string[] = []
  for (const f of TOKENIZER_FILES) {
    const src = join(from, f)
    if (existsSync(src)) {
      copyFileSync(src, join(dir, f))
      copied.push(f)
    }
  }
  return copied
}

/**
 * Saves weights and config in the Hugging Face layout (optionally sharded, in F32/F16/BF16), copying the
 * tokenizer files from `tokenizerFrom` when given.
 */
export function saveModel(dir: string, config: ModelConfig, weights: Record<string, Tensor>, opts: { dtype?: StorageDType; maxShardBytes?: number; tokenizerFrom?: string } = {}): string[] {
  mkdirSync(dir, { recursive: true })
  const cfg = configToJson(config)
  cfg.torch_dtype = opts.dtype === 'BF16' ? 'bfloat16' : opts.dtype === 'F16' ? 'float16' : 'float32'
  writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`)
  const written = ['config.json', ...writeWeights(dir, weights, { dtype: opts.dtype, maxShardBytes: opts.maxShardBytes })]
  written.push(...copyTokenizerFiles(opts.tokenizerFrom, dir))
  return written
}

export interface ModelInfo {
  dir: string
  architecture: string
  parameters: number
  layers: number
  hidden_size: number
  heads: string
  vocab_size: number
  tied_embeddings: boolean
  dtypes: Record<string, number>
  files: { name: string; bytes: number }[]
  tokenizer: boolean
  chat_template: boolean
}

/** What a model directory holds, read from its headers only (no weights loaded). */
export function modelInfo(dir: string): ModelInfo {
  const c = readConfig(dir)
  const { files } = weightFiles(dir)
  const dtypes: Record<string, number> = {}
  for (const f of files) {
    const header = JSON.parse(readHeader(f)) as Record<string, { dtype?: string }>
    for (const [k, v] of Object.entries(header)) if (k !== '__metadata__' && v.dtype) dtypes[v.dtype] = (dtypes[v.dtype] ?? 0) + 1
  }
  let chat = false
  const tc = join(dir, 'tokenizer_config.json')
  if (existsSync(tc)) chat = Boolean((JSON.parse(readFileSync(tc, 'utf8')) as { chat_template?: unknown }).chat_template)
  if (existsSync(join(dir, 'chat_template.jinja'))) chat = true
  return {
    dir,
    architecture: c.architecture === 'llama' ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM',
    parameters: parameterCount(c),
    layers: c.num_hidden_layers,
    hidden_size: c.hidden_size,
    heads: `${c.num_attention_heads} query / ${c.num_key_value_heads} key-value, head_dim ${c.head_dim}`,
    vocab_size: c.vocab_size,
    tied_embeddings: c.tie_word_embeddings,
    dtypes,
    files: readdirSync(dir)
      .filter((f) => statSync(join(dir, f)).isFile())
      .sort()
      .map((name) => ({ name, bytes: statSync(join(dir, name)).size })),
    tokenizer: existsSync(join(dir, 'tokenizer.json')),
    chat_template: chat,
  }
}

/** The JSON header of a safetensors file (only its first bytes are read). */
function readHeader(path: string): string {
  const fd = openSync(path, 'r')
  try {
    const len = Buffer.alloc(8)
    readSync(fd, len, 0, 8, 0)
    const hb = Buffer.alloc(Number(len.readBigUInt64LE(0)))
    readSync(fd, hb, 0, hb.length, 8)
    return hb.toString('utf8')
  } finally {
    closeSync(fd)
  }
}

export interface InitOptions {
  arch: 'llama' | 'qwen2'
  hidden: number
  layers: number
  heads: number
  kvHeads?: number
  intermediate?: number
  vocab?: number
  headDim?: number
  tie?: boolean
  ropeTheta?: number
  ropeScaling?: ModelConfig['rope_scaling']
  maxPositions?: number
  seed?: number
  std?: number
}

/** A config for a new model; `vocab` must match the tokenizer that goes with it. */
export function newConfig(o: InitOptions & { vocab: number; bos?: number | null; eos?: number[]; pad?: number | null }): ModelConfig {
  return parseConfig({
    architectures: [o.arch === 'llama' ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM'],
    vocab_size: o.vocab,
    hidden_size: o.hidden,
    intermediate_size: o.intermediate ?? Math.round((8 * o.hidden) / 3 / 16) * 16,
    num_hidden_layers: o.layers,
    num_attention_heads: o.heads,
    num_key_value_heads: o.kvHeads ?? o.heads,
    head_dim: o.headDim ?? o.hidden / o.heads,
    rms_norm_eps: 1e-6,
    rope_theta: o.ropeTheta ?? 10000,
    rope_scaling: o.ropeScaling ?? null,
    max_position_embeddings: o.maxPositions ?? 2048,
    tie_word_embeddings: o.tie ?? false,
    bos_token_id: o.bos ?? null,
    eos_token_id: o.eos ?? [],
    pad_token_id: o.pad ?? null,
  })
}

/** Random weights for a config, as CausalLM-ready tensors. */
export function initWeights(c: ModelConfig, seed = 0, std = 0.02): Record<string, Tensor> {
  const w = randomWeights(c, seed, std)
  for (const n of Object.keys(parameterShapes(c))) if (!w[n]) throw new Error(`init: no weight ${n}`)
  return w
}
