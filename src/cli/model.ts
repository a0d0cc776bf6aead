import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import { writeFileAtomic } from '../util/atomic.js'
import { importFiles } from '../data/import.js'
import { optionEntries } from '../data/record.js'
import { SPECIAL_TOKENS, saveTrainedTokenizer } from '../model/bpe.js'
import { parameterCount } from '../model/config.js'
import { initWeights, loadModel, mergeAdapterDir, modelInfo, newConfig, saveModel, type InitOptions } from '../model/files.js'
import type { StorageDType } from '../model/safetensors.js'
import { TextTokenizer } from '../model/tokenizer.js'
import { exportGguf, GGUF_DTYPES, type GgufDType } from '../model/gguf/export.js'
import { ggufSummary } from '../model/gguf/info.js'
import { info, intOption } from './util.js'

function idList(v: string): number[] {
  const ids = v.split(',').map((s) => Number(s.trim()))
  if (ids.length === 0 || ids.some((x) => !Number.isInteger(x) || x < 0)) throw new InvalidArgumentError(`--ids takes comma-separated token ids, got "${v}"`)
  return ids
}

/** Text to train a tokenizer on: plain text files as they are; question files (any layout) as question + options. */
async function trainingTexts(files: string[]): Promise<string[]> {
  const out: string[] = []
  for (const f of files) {
    if (/\.(jsonl|json|csv|parquet)$/i.test(f)) {
      const { records } = await importFiles([f], { skipInvalid: true })
      for (const r of records) out.push([r.context ?? '', r.question, ...optionEntries(r).map(([l, t]) => `${l}. ${t}`)].join('\n'))
    } else out.push(...readFileSync(f, 'utf8').split('\n'))
  }
  return out
}

/** The flags of `model init`: the model's shape as InitOptions has it, plus the files to write. */
interface InitFlags extends Pick<InitOptions, 'arch' | 'hidden' | 'layers' | 'heads' | 'kvHeads' | 'intermediate' | 'headDim' | 'vocab'> {
  tokenizerText?: string[]
  tokenizer?: string
  tie?: boolean
  ropeTheta: number
  ropeScaling?: string
  maxPositions: number
  seed: number
  std: number
  dtype: StorageDType
  maxShardMb?: number
  out: string
}

export function modelCommand(): Command {
  const model = new Command('model').description('create, inspect and run Llama / Qwen2 models in the Hugging Face layout')

  model
    .command('init')
    .description('a randomly initialised model in the full Hugging Face layout (config.json, safetensors, tokenizer)')
    .addOption(new Option('--arch <arch>', 'architecture').choices(['llama', 'qwen2']).default('llama'))
    .requiredOption('--hidden <n>', 'hidden size', intOption('--hidden'))
    .requiredOption('--layers <n>', 'decoder layers', intOption('--layers'))
    .requiredOption('--heads <n>', 'attention heads', intOption('--heads'))
    .option('--kv-heads <n>', 'key/value heads (grouped-query attention; default: --heads)', intOption('--kv-heads'))
    .option('--intermediate <n>', 'MLP size (default: about 8/3 × hidden)', intOption('--intermediate'))
    .option('--head-dim <n>', 'head dimension (default: hidden / heads)', intOption('--head-dim'))
    .option('--vocab <n>', 'vocabulary: the BPE size to train with --tokenizer-text, or the model size when there is no tokenizer', intOption('--vocab'))
    .option('--tokenizer-text <files...>', 'train a byte-level BPE tokenizer on these files (text, or question files in any layout)')
    .option('--tokenizer <path>', 'use this tokenizer.json (tokenizer_config.json beside it is copied too)')
    .option('--tie', 'tie lm_head to the embedding')
    .option('--rope-theta <x>', 'rotary base', Number, 10000)
    .option('--rope-scaling <json>', 'rope_scaling as JSON, e.g. {"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}')
    .option('--max-positions <n>', 'max_position_embeddings', intOption('--max-positions'), 2048)
    .option('--seed <n>', 'initialisation seed', intOption('--seed'), 0)
    .option('--std <x>', 'initialisation std (transformers: initializer_range 0.02)', Number, 0.02)
    .addOption(new Option('--dtype <dtype>', 'storage dtype of the safetensors').choices(['F32', 'BF16', 'F16']).default('F32'))
    .option('--max-shard-mb <n>', 'shard the weights into files of at most this many MB (with model.safetensors.index.json)', intOption('--max-shard-mb'))
    .requiredOption('--out <dir>', 'output directory')
    .action(async (f: InitFlags) => {
      mkdirSync(f.out, { recursive: true })
      let vocab = f.vocab
      let bos: number | null = null
      let eos: number[] = []
      let pad: number | null = null
      if (f.tokenizerText && f.tokenizer) throw new Error('give either --tokenizer-text (train one) or --tokenizer (use one), not both')
      if (f.tokenizerText) {
        const bpe = saveTrainedTokenizer(f.out, await trainingTexts(f.tokenizerText), vocab ?? 1024)
        info(`trained a byte-level BPE: ${bpe.merges.length} merges, ${bpe.size} tokens`)
      } else if (f.tokenizer) {
        writeFileAtomic(join(f.out, 'tokenizer.json'), readFileSync(f.tokenizer))
        const cfg = join(dirname(f.tokenizer), 'tokenizer_config.json')
        if (existsSync(cfg)) writeFileAtomic(join(f.out, 'tokenizer_config.json'), readFileSync(cfg))
      }
      if (existsSync(join(f.out, 'tokenizer.json'))) {
        const tok = TextTokenizer.fromDir(f.out)
        const tj = JSON.parse(readFileSync(join(f.out, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> }; added_tokens?: { id: number }[] }
        vocab = Math.max(...Object.values(tj.model.vocab), ...(tj.added_tokens ?? []).map((t) => t.id)) + 1
        bos = tok.bosId
        const end = tok.eosId
        const imEnd = tok.tokenToId(SPECIAL_TOKENS.imEnd)
        eos = [end, imEnd].filter((x): x is number => typeof x === 'number')
        pad = tok.padId
      }
      if (vocab === undefined) throw new Error('--vocab is needed when the model has no tokenizer (--tokenizer-text or --tokenizer)')
      const config = newConfig({
        arch: f.arch,
        hidden: f.hidden,
        layers: f.layers,
        heads: f.heads,
        kvHeads: f.kvHeads,
        intermediate: f.intermediate,
        headDim: f.headDim,
        vocab,
        tie: f.tie === true,
        ropeTheta: f.ropeTheta,
        ropeScaling: f.ropeScaling ? (JSON.parse(f.ropeScaling) as never) : null,
        maxPositions: f.maxPositions,
        bos,
        eos,
        pad,
      })
      const files = saveModel(f.out, config, initWeights(config, f.seed, f.std), { dtype: f.dtype, maxShardBytes: f.maxShardMb !== undefined ? f.maxShardMb * 2 ** 20 : undefined })
      if (eos.length > 0) writeFileAtomic(join(f.out, 'generation_config.json'), `${JSON.stringify({ bos_token_id: bos, eos_token_id: eos, pad_token_id: pad }, null, 2)}\n`)
      info(`${f.out}: ${config.architecture} with ${parameterCount(config).toLocaleString('en')} parameters (${files.join(', ')})`)
    })

  model
    .command('logits')
    .description('logits of a model for a text or token ids: the last position, or every position with --all')
    .requiredOption('--model <dir>', 'model directory (config.json + safetensors; tokenizer for --text)')
    .option('--text <text>', 'text to tokenize (needs tokenizer.json)')
    .option('--ids <ids>', 'comma-separated token ids', idList)
    .option('--all', 'every position, not only the last')
    .option('--json', 'print one JSON array (of arrays with --all)')
    .option('--top <k>', 'without --json: how many top tokens to list', intOption('--top', 1), 10)
    .action(async (f: { model: string; text?: string; ids?: number[]; all?: boolean; json?: boolean; top: number }) => {
      if ((f.text === undefined) === (f.ids === undefined)) throw new Error('give exactly one of --text and --ids')
      const m = loadModel(f.model)
      let ids = f.ids
      if (f.text !== undefined) {
        if (!m.tokenizer) throw new Error(`${f.model}: no tokenizer.json, so --text cannot be used (give --ids)`)
        ids = m.tokenizer.encode(f.text)
      }
      if (ids!.length === 0) throw new Error(f.text !== undefined ? `--text ${JSON.stringify(f.text)} gives no tokens (this tokenizer adds no BOS token): give some text` : 'give at least one token id')
      if (ids!.length > m.config.max_position_embeddings) throw new Error(`${ids!.length} tokens: more than the model's context (max_position_embeddings ${m.config.max_position_embeddings})`)
      const bad = ids!.find((i) => i >= m.config.vocab_size)
      if (bad !== undefined) throw new Error(`token id ${bad} is outside the vocabulary (${m.config.vocab_size})`)
      const logits = await m.model.logits({ ids: [ids!] })
      const v = m.config.vocab_size
      const rows: number[][] = []
      for (let t = f.all ? 0 : ids!.length - 1; t < ids!.length; t++) rows.push(Array.from(logits.data.subarray(t * v, (t + 1) * v) as Float32Array))
      await m.model.dispose()
      if (f.json) {
        process.stdout.write(`${JSON.stringify(f.all ? rows : rows[0])}\n`)
        return
      }
      rows.forEach((row, k) => {
        const pos = f.all ? k : ids!.length - 1
        const top = row.map((x, i) => [i, x] as const).sort((a, b) => b[1] - a[1]).slice(0, f.top)
        process.stdout.write(`position ${pos}:\n`)
        for (const [i, x] of top) process.stdout.write(`  ${String(i).padStart(7)}  ${x.toFixed(6).padStart(12)}  ${m.tokenizer ? JSON.stringify(m.tokenizer.decode([i])) : ''}\n`)
      })
    })

  model
    .command('export')
    .description('write a model directory as one GGUF file for llama.cpp, Ollama and LM Studio')
    .argument('<dir>', 'model directory (Llama or Qwen2, Hugging Face layout, with tokenizer.json)')
    .addOption(new Option('--format <format>', 'output format').choices(['gguf']).default('gguf'))
    .addOption(new Option('--dtype <dtype>', 'type of the weight matrices (norms and biases stay F32): F32 matches medrl to float rounding, Q8_0 is what a user would run').choices([...GGUF_DTYPES]).default('F32'))
    .option('--name <name>', 'general.name in the file (default: the directory name)')
    .requiredOption('--out <file>', 'the .gguf file to write (written atomically)')
    .action((dir: string, f: { dtype: GgufDType; name?: string; out: string }) => {
      const r = exportGguf(dir, f.out, { dtype: f.dtype, name: f.name })
      const kept = r.keptF32.filter((n) => /^blk\.|^token_embd|^output\.weight/.test(n) && !/norm|bias/.test(n))
      info(`${f.out}: ${r.tensors} tensors, ${r.bytes.toLocaleString('en')} bytes (${f.dtype}${kept.length > 0 ? `; kept in F32, rows not whole ${f.dtype} blocks: ${kept.join(', ')}` : ''})`)
    })

  model
    .command('merge')
    .description('merge a LoRA adapter (PEFT layout: adapter_config.json, adapter_model.safetensors) into its base: W + alpha/r·B·A, written as a Hugging Face model directory')
    .argument('<adapter>', 'adapter directory (a LoRA checkpoint of medrl train or sft, or any PEFT LoRA of a Llama/Qwen2 model)')
    .option('--base <dir>', "the base model directory (default: the adapter's base_model_name_or_path)")
    .addOption(new Option('--dtype <dtype>', 'dtype of the merged weights').choices(['F32', 'BF16']).default('F32'))
    .requiredOption('--out <dir>', 'the model directory to write (written under a temporary name, then renamed)')
    .action((adapter: string, f: { base?: string; dtype: 'F32' | 'BF16'; out: string }) => {
      const r = mergeAdapterDir(adapter, f.out, { base: f.base, dtype: f.dtype })
      info(`${r.modules} adapted modules merged into ${r.base} → ${r.dir}`)
      process.stdout.write(`${r.dir}\n`)
    })

  model
    .command('info')
    .description('architecture, parameter count, dtypes and files of a model directory or a GGUF file (reads headers only)')
    .argument('<path>', 'model directory, or a .gguf file')
    .option('--json', 'print JSON')
    .action((dir: string, f: { json?: boolean }) => {
      if (/\.gguf$/i.test(dir)) {
        const s = ggufSummary(dir)
        process.stdout.write(f.json ? `${JSON.stringify(s, null, 2)}\n` : `${s.lines.join('\n')}\n`)
        return
      }
      const i = modelInfo(dir)
      if (f.json) {
        process.stdout.write(`${JSON.stringify(i, null, 2)}\n`)
        return
      }
      const lines = [
        `architecture   ${i.architecture}`,
        `parameters     ${i.parameters.toLocaleString('en')}`,
        `layers         ${i.layers} (hidden ${i.hidden_size}; heads ${i.heads})`,
        `vocabulary     ${i.vocab_size}${i.tied_embeddings ? ' (tied embeddings)' : ''}`,
        `dtypes         ${Object.entries(i.dtypes).map(([d, n]) => `${d} ×${n}`).join(', ')}`,
        `tokenizer      ${i.tokenizer ? 'tokenizer.json' : 'none (runs from ids)'}${i.chat_template ? ', chat template' : ''}`,
        'files:',
        ...i.files.map((x) => `  ${x.name.padEnd(40)} ${x.bytes.toLocaleString('en').padStart(16)} bytes`),
      ]
      process.stdout.write(`${lines.join('\n')}\n`)
    })

  return model
}
