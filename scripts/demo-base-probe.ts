/**
 * What a demo base model knows, and whether it can use it in a multiple-choice answer (greedy):
 * findings → disease and disease → drug as the corpus states them, and the letter it picks when the right
 * two-step reasoning is pre-filled. RL can only reward reasoning that this last figure lets pay.
 *
 *   node --import tsx scripts/demo-base-probe.ts [MODEL_DIR=assets/demo-base] [SEED=0]
 */
import { EmbeddedBackend } from '../src/backends/embedded.js'
import { getTemplate } from '../src/reward/templates.js'
import { makeQuestions } from '../src/synth/questions.js'
import { list, makeWorld } from '../src/synth/world.js'

const dir = process.argv[2] ?? 'assets/demo-base'
const seed = Number(process.argv[3] ?? 0)
const b = EmbeddedBackend.fromDir(dir)
const w = makeWorld(seed)
const { test } = makeQuestions(w, seed)
const greedy = (maxNewTokens: number) => ({ temperature: 0, maxNewTokens, stop: ['.'] })

const disease = await b.generate(w.diseases.map((d) => ({ prompt: ` A patient with ${list([d.findings[2], d.findings[0], d.findings[1]])} most likely has`, params: greedy(24) })))
console.log(`findings → disease: ${disease.filter((c, i) => c[0]!.text.includes(w.diseases[i]!.name)).length} / ${w.diseases.length}`)
const drug = await b.generate(w.diseases.map((d) => ({ prompt: ` The first-line treatment of ${d.name} is`, params: greedy(24) })))
console.log(`disease → drug: ${drug.filter((c, i) => c[0]!.text.includes(w.diseases[i]!.treatment)).length} / ${w.diseases.length}`)

const t = getTemplate('r1')
const byName = new Map(w.diseases.map((d) => [d.name, d]))
const letters = await b.generate(
  test.map((r) => {
    const d = byName.get(String(r.meta.disease))!
    const reasoning = `A patient with ${list(d.findings)} most likely has ${d.name}. The first-line treatment of ${d.name} is ${d.treatment}.`
    return { prompt: `${t.plain(r)} <think>${reasoning}</think><answer>`, params: { temperature: 0, maxNewTokens: 3 } }
  }),
)
const right = letters.filter((c, i) => c[0]!.text.trim().startsWith(test[i]!.answer)).length
console.log(`letter after the right reasoning, held-out questions: ${right} / ${test.length} (chance ${test.length / 4})`)
await b.close()
