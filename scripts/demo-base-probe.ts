/**
 * What a demo base model knows, and whether it can use it in a multiple-choice answer (greedy):
 * findings → disease and disease → drug as the corpus states them; whether it reads the disease a question
 * asks about into its reasoning; the answer it gives when the right
 * two-step reasoning is pre-filled (RL can only reward reasoning that this figure lets pay); and what it
 * does on its own with the held-out questions (format-valid share, accuracy, a few completions), greedy
 * and sampled at temperature 1 as in RL, by habit: reasoning that names the disease, or a terse answer.
 *
 *   node --import tsx scripts/demo-base-probe.ts [MODEL_DIR=assets/demo-base] [SEED=0]
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { EmbeddedBackend } from '../src/backends/embedded.js'
import { extractAnswer, isCorrect } from '../src/reward/extract.js'
import { checkR1Format } from '../src/reward/format.js'
import { getTemplate } from '../src/reward/templates.js'
import { mentionsBeforeAnswer } from '../src/rl/trainer.js'
import { makeQuestions } from '../src/synth/questions.js'
import { list, makeWorld } from '../src/synth/world.js'

const dir = process.argv[2] ?? 'assets/demo-base'
const seed = Number(process.argv[3] ?? 0)
const meta = join(dir, 'pretrain.json')
const t = getTemplate(existsSync(meta) ? (JSON.parse(readFileSync(meta, 'utf8')).config?.template ?? 'r1') : 'r1')
const b = EmbeddedBackend.fromDir(dir)
const w = makeWorld(seed)
const { test } = makeQuestions(w, seed)
const TERSE = '<think>The answer is'
const greedy = (maxNewTokens: number) => ({ temperature: 0, maxNewTokens, stop: ['.'] })

const disease = await b.generate(w.diseases.map((d) => ({ prompt: ` A patient with ${list([d.findings[2], d.findings[0], d.findings[1]])} most likely has`, params: greedy(24) })))
console.log(`findings → disease: ${disease.filter((c, i) => c[0]!.text.includes(w.diseases[i]!.name)).length} / ${w.diseases.length}`)
const drug = await b.generate(w.diseases.map((d) => ({ prompt: ` The first-line treatment of ${d.name} is`, params: greedy(24) })))
console.log(`disease → drug: ${drug.filter((c, i) => c[0]!.text.includes(w.diseases[i]!.treatment)).length} / ${w.diseases.length}`)

const { train } = makeQuestions(w, seed)
const recall = train.filter((r) => r.meta.kind === 'one-hop')
const read = await b.generate(recall.map((r) => ({ prompt: `${t.plain(r)} <think>The first-line treatment of`, params: greedy(8) })))
console.log(`reads the question (names the disease a recall question asks about): ${read.filter((c, i) => c[0]!.text.includes(String(recall[i]!.meta.disease))).length} / ${recall.length}`)

const byName = new Map(w.diseases.map((d) => [d.name, d]))
const answers = await b.generate(
  test.map((r) => {
    const d = byName.get(String(r.meta.disease))!
    const reasoning = `A patient with ${list(d.findings)} most likely has ${d.name}. The first-line treatment of ${d.name} is ${d.treatment}.`
    return { prompt: `${t.plain(r)} <think>${reasoning}</think><answer>`, params: { temperature: 0, maxNewTokens: 12, stop: ['</answer>'] } }
  }),
)
const right = answers.filter((c, i) => extractAnswer(`<answer>${c[0]!.text}</answer>`, test[i]!).letter === test[i]!.answer).length
console.log(`${t.name}: answer after the right reasoning, held-out questions: ${right} / ${test.length} (chance ${test.length / 4})`)

const own = await b.generate(test.map((r) => ({ prompt: t.plain(r), params: { temperature: 0, maxNewTokens: 48, stop: ['</answer>'] } })))
// A completion stopped at </answer> lacks it: put it back for the format check and extraction.
const closed = (c: { text: string; finishReason: string }) => c.text + (c.finishReason === 'stop' ? '</answer>' : '')
const texts = own.map((c) => closed(c[0]!))
const valid = texts.filter((x) => checkR1Format(x).valid).length
const correct = texts.filter((x, i) => isCorrect(extractAnswer(x, test[i]!).letter, test[i]!)).length
console.log(`on its own (greedy): format-valid ${valid} / ${test.length}, correct ${correct} / ${test.length}`)
const names = (x: string, i: number) => mentionsBeforeAnswer(x, String(test[i]!.meta.disease))
console.log(`  names the disease before answering: ${texts.filter(names).length} / ${test.length}; terse ("The answer is"): ${texts.filter((x) => x.includes(TERSE)).length} / ${test.length}`)

// Sampled as in RL (temperature 1): how often each habit is written, and how often it is right.
const sampled = await b.generate(test.map((r, i) => ({ prompt: t.plain(r), params: { temperature: 1, maxNewTokens: 48, stop: ['</answer>'], n: 8, seed: seed + i } })))
const rows = sampled.flatMap((cs, i) => cs.map((c) => ({ i, x: closed(c) })))
for (const [habit, keep] of [['names the disease', (r: { i: number; x: string }) => names(r.x, r.i)], ['terse', (r: { i: number; x: string }) => r.x.includes(TERSE)], ['all', () => true]] as const) {
  const k = rows.filter(keep)
  const ok = k.filter((r) => isCorrect(extractAnswer(r.x, test[r.i]!).letter, test[r.i]!)).length
  console.log(`  sampled, ${habit}: ${k.length} / ${rows.length} completions, correct ${ok} (${k.length ? ((100 * ok) / k.length).toFixed(1) : '-'}%)`)
}
for (const i of [0, 1, 2, 3]) console.log(`  [${test[i]!.meta.disease} → ${byName.get(String(test[i]!.meta.disease))!.treatment}] ${JSON.stringify(texts[i])}`)
await b.close()
