import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command } from 'commander'
import { readRecords, writeRecords } from '../data/jsonl.js'
import { DEFAULT_TERSE_SHARE, makeQuestions } from '../synth/questions.js'
import { DEFAULT_PRETRAIN, pretrainBase, type PretrainConfig } from '../synth/pretrain.js'
import { makeCorpus, makeWorld } from '../synth/world.js'
import { writeFileAtomic } from '../util/atomic.js'
import { Progress } from '../util/progress.js'
import { DEFAULT_TEMPLATE, templateHelp } from '../defaults.js'
import { info, intOption, floatOption } from './util.js'

export function synthCommand(): Command {
  return new Command('synth')
    .description('a seeded fictional clinical world: knowledge base, textbook corpus, and multiple-choice questions (train, held-out test)')
    .option('--seed <n>', 'seed', intOption('--seed'), 0)
    .option('--diseases <n>', 'diseases in the world', intOption('--diseases'), 24)
    .option('--per-disease <n>', 'two-hop vignettes per disease', intOption('--per-disease'), 6)
    .option('--warmup-questions <n>', 'one-hop warm-up questions (with a short reasoning) for medrl pretrain --warmup', intOption('--warmup-questions'), 6000)
    .option('--terse-share <x>', 'share of warm-up questions answered tersely ("The answer is X."), without the fact', floatOption('--terse-share'), DEFAULT_TERSE_SHARE)
    .option('--repeats <n>', 'passes of fact statements in the corpus', intOption('--repeats'), 6)
    .requiredOption('--out <dir>', 'directory: world.json, corpus.txt, train.jsonl, test.jsonl, warmup.jsonl')
    .action((f: { seed: number; diseases: number; perDisease: number; warmupQuestions: number; terseShare: number; repeats: number; out: string }) => {
      mkdirSync(f.out, { recursive: true })
      const w = makeWorld(f.seed, f.diseases)
      writeFileAtomic(join(f.out, 'world.json'), `${JSON.stringify(w, null, 2)}\n`)
      writeFileAtomic(join(f.out, 'corpus.txt'), `${makeCorpus(w, f.seed, f.repeats).join('\n')}\n`)
      const q = makeQuestions(w, f.seed, f.perDisease, f.warmupQuestions, f.terseShare)
      writeRecords(join(f.out, 'train.jsonl'), q.train)
      writeRecords(join(f.out, 'test.jsonl'), q.test)
      writeRecords(join(f.out, 'warmup.jsonl'), q.warmup)
      info(`${w.diseases.length} diseases; ${q.train.length} train and ${q.test.length} held-out questions, ${q.warmup.length} one-hop warm-up questions in ${f.out}`)
    })
}

export function pretrainCommand(): Command {
  const d = DEFAULT_PRETRAIN
  return new Command('pretrain')
    .description('next-token pretraining of a small Llama (and a byte-level BPE) on a text corpus, saved in the Hugging Face layout')
    .requiredOption('--corpus <file>', 'text, one statement a line')
    .requiredOption('--out <dir>', 'model directory')
    .option('--seed <n>', 'seed', intOption('--seed'), d.seed)
    .option('--hidden <n>', 'hidden size', intOption('--hidden'), d.hidden)
    .option('--layers <n>', 'layers', intOption('--layers'), d.layers)
    .option('--heads <n>', 'heads', intOption('--heads'), d.heads)
    .option('--kv-heads <n>', 'key/value heads', intOption('--kv-heads'), d.kvHeads)
    .option('--intermediate <n>', 'MLP size', intOption('--intermediate'), d.intermediate)
    .option('--bpe-vocab <n>', 'BPE size', intOption('--bpe-vocab'), d.bpeVocab)
    .option('--steps <n>', 'steps', intOption('--steps', 1), d.steps)
    .option('--learning-rate <x>', 'peak learning rate (cosine decay)', floatOption('--learning-rate'), d.lr)
    .option('--batch-size <n>', 'sequences per step', intOption('--batch-size', 1), d.batchSize)
    .option('--seq-len <n>', 'tokens per packed sequence', intOption('--seq-len'), d.seqLen)
    .option('--format-warmup <n>', 'Q&A examples on an unrelated toy task, in the template’s answer format', intOption('--format-warmup'), d.formatWarmup)
    .option('--warmup-share <x>', 'share of training sequences drawn from the warm-up questions', floatOption('--warmup-share'), d.warmupShare)
    .option('--warmup <file>', 'records (JSONL) added to the warm-up with their right answers, their meta.rationale as the reasoning (medrl synth writes warmup.jsonl)')
    .option('--template <name>', templateHelp(DEFAULT_TEMPLATE.pretrain, 'answer format of the warm-up'), d.template)
    .action(async (f: { corpus: string; warmup?: string; out: string; seed: number; hidden: number; layers: number; heads: number; kvHeads: number; intermediate: number; bpeVocab: number; steps: number; learningRate: number; batchSize: number; seqLen: number; formatWarmup: number; warmupShare: number; template: string }) => {
      const corpus = readFileSync(f.corpus, 'utf8').split('\n').filter((l) => l.trim() !== '')
      const progress = new Progress('pretrain', f.steps, 'steps')
      const answered = f.warmup ? readRecords(f.warmup) : []
      // The recipe in DEFAULT_PRETRAIN's key order with its key `lr`: pretrain.json then names the committed base's recipe exactly.
      const given: Record<string, unknown> = { ...f, lr: f.learningRate }
      const config = Object.fromEntries(Object.keys(DEFAULT_PRETRAIN).map((k) => [k, given[k]])) as unknown as PretrainConfig
      const losses = await pretrainBase(corpus, f.out, config, (s, loss) => progress.update(s + 1, `loss ${loss.toFixed(3)}`), answered)
      progress.stop()
      info(`loss ${losses[0]!.toFixed(3)} → ${losses[losses.length - 1]!.toFixed(3)}; model in ${f.out}`)
    })
}
