import { readFileSync } from 'node:fs'
import { saveTrainedTokenizer } from '../src/model/bpe.js'
import { initWeights, newConfig, saveModel } from '../src/model/files.js'
import { dataFile, tempDir } from './helpers.js'

/**
 * A tiny model directory in the Hugging Face layout with a byte-level BPE tokenizer trained on real
 * MedQA questions (no hub is reachable; tests build their own models).
 */
export function makeTinyModel(opts: { arch?: 'llama' | 'qwen2'; seed?: number; std?: number; bpe?: number; dir?: string; maxPositions?: number } = {}): string {
  const dir = opts.dir ?? tempDir('medrl-model-')
  const lines = readFileSync(dataFile('medqa/medqa_input.jsonl'), 'utf8').split('\n').slice(0, 150)
  const bpe = saveTrainedTokenizer(dir, lines, opts.bpe ?? 400)
  const config = newConfig({ arch: opts.arch ?? 'qwen2', hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, vocab: bpe.size, eos: [bpe.eos], maxPositions: opts.maxPositions ?? 512 })
  saveModel(dir, config, initWeights(config, opts.seed ?? 1, opts.std ?? 0.3))
  return dir
}
