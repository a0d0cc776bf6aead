import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command } from 'commander'
import { writeRecords } from '../data/jsonl.js'
import { makeQuestions } from '../synth/questions.js'
import { DEFAULT_PRETRAIN, pretrainBase } from '../synth/pretrain.js'
import { CORPUS_REPEATS, makeCorpus, makeWorld } from '../synth/world.js'
import { readWarmup, WARMUP_QUESTIONS, warmupQuestions } from '../synth/warmup.js'
import { writeFileAtomic } from '../util/atomic.js'
import { Progress } from '../util/progress.js'
import { info, intOption, floatOption } from './util.js'

export function synthCommand(): Command {
  return new Command('synth')
    .description('a seeded fictional clinical world: knowledge base, textbook corpus, and multiple-choice questions (train, held-out test)')
    .option('--seed <n>', 'seed', intOption('--seed'), 0)
    .option('--diseases <n>', 'diseases in the world', intOption('--diseases'), 24)
    .option('--per-disease <n>', 'two-hop vignettes per disease', intOption('--per-disease'), 6)
    .option('--repeats <n>', 'paragraphs per disease in the corpus', intOption('--repeats'), CORPUS_REPEATS)
    .option('--warmup-questions <n>', 'format warm-up questions (atlas reading and clinical side questions)', intOption('--warmup-questions'), WARMUP_QUESTIONS)
    .requiredOption('--out <dir>', 'directory: world.json, corpus.txt, warmup.jsonl, train.jsonl, test.jsonl')
    .action((f: { seed: number; diseases: number; perDisease: number; repeats: number; warmupQuestions: number; out: string }) => {
      mkdirSync(f.out, { recursive: true })
      const w = makeWorld(f.seed, f.diseases)
      writeFileAtomic(join(f.out, 'world.json'), `${JSON.stringify(w, null, 2)}\n`)
      writeFileAtomic(join(f.out, 'corpus.txt'), `${makeCorpus(w, f.seed, f.repeats).join('\n')}\n`)
      writeRecords(join(f.out, 'warmup.jsonl'), warmupQuestions(w, f.warmupQuestions, f.seed))
      const q = makeQuestions(w, f.seed, f.perDisease)
      writeRecords(join(f.out, 'train.jsonl'), q.train)
      writeRecords(join(f.out, 'test.jsonl'), q.test)
      info(`${w.diseases.length} diseases; ${q.train.length} train and ${q.test.length} held-out questions in ${f.out}`)
    })
}

export function pretrainCommand(): Command {
  const d = DEFAULT_PRETRAIN
  return new Command('pretrain')
    .description('next-token pretraining of a small Llama (and a byte-level BPE) on a text corpus, saved in the Hugging Face layout')
    .requiredOption('--corpus <file>', 'text, one paragraph a line')
    .option('--warmup <file>', 'format warm-up questions (medrl records with meta.fact), e.g. the warmup.jsonl medrl synth writes')
    .requiredOption('--out <dir>', 'model directory')
    .option('--seed <n>', 'seed', intOption('--seed'), d.seed)
    .option('--hidden <n>', 'hidden size', intOption('--hidden'), d.hidden)
    .option('--layers <n>', 'layers', intOption('--layers'), d.layers)
    .option('--heads <n>', 'heads', intOption('--heads'), d.heads)
    .option('--kv-heads <n>', 'key/value heads', intOption('--kv-heads'), d.kvHeads)
    .option('--intermediate <n>', 'MLP size', intOption('--intermediate'), d.intermediate)
    .option('--bpe-vocab <n>', 'BPE size', intOption('--bpe-vocab'), d.bpeVocab)
    .option('--steps <n>', 'steps', intOption('--steps'), d.steps)
    .option('--lr <x>', 'peak learning rate (cosine decay)', floatOption('--lr'), d.lr)
    .option('--batch-size <n>', 'sequences per step', intOption('--batch-size'), d.batchSize)
    .option('--seq-len <n>', 'tokens per packed sequence', intOption('--seq-len'), d.seqLen)
    .option('--template <name>', 'answer format of the warm-up', d.template)
    .action(async (f: { corpus: string; out: string; seed: number; hidden: number; layers: number; heads: number; kvHeads: number; intermediate: number; bpeVocab: number; steps: number; lr: number; batchSize: number; seqLen: number; template: string; warmup?: string }) => {
      const corpus = readFileSync(f.corpus, 'utf8').split('\n').filter((l) => l.trim() !== '')
      const progress = new Progress('pretrain', f.steps, 'steps')
      const warmup = f.warmup === undefined ? [] : readWarmup(f.warmup)
      const config = { seed: f.seed, hidden: f.hidden, layers: f.layers, heads: f.heads, kvHeads: f.kvHeads, intermediate: f.intermediate, bpeVocab: f.bpeVocab, steps: f.steps, lr: f.lr, batchSize: f.batchSize, seqLen: f.seqLen, template: f.template }
      const losses = await pretrainBase(corpus, warmup, f.out, config, (s, loss) => progress.update(s + 1, `loss ${loss.toFixed(3)}`))
      progress.stop()
      info(`loss ${losses[0]!.toFixed(3)} → ${losses[losses.length - 1]!.toFixed(3)}; model in ${f.out}`)
    })
}
