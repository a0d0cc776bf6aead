import { checkR1Format } from '../../src/reward/format.js'
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { QARecord } from '../../src/data/record.js'
import { classifyStage, stageCounts, STAGES, type Stage } from '../../src/reward/stages.js'
import { getReward, resolveReward } from '../../src/reward/rewards.js'
import { rewardView } from '../../src/reward/score.js'
import { getTemplate, renderPrompt, shuffleOptions, templateNames } from '../../src/reward/templates.js'
import { ChatTemplate } from '../../src/model/chat-template.js'

const rec: QARecord = {
  id: 'q1',
  source: 'medqa',
  split: 'test',
  question: 'A 61-year-old man develops renal failure and livedo reticularis two weeks after cardiac catheterization. Most likely cause?',
  options: { A: 'Renal artery stenosis', B: 'Acute interstitial nephritis', C: 'Cholesterol embolization', D: 'Contrast nephropathy' },
  answer: 'C',
  meta: {},
}

const long = Array.from({ length: 60 }, (_, i) => `Consideration ${i} about the kidney, the skin and the timing of the procedure.`).join(' ')

describe('reasoning-stage classifier (Med-RLVR Figure 2), one hand-made example per stage', () => {
  const examples: [Stage, string][] = [
    ['format_failure', 'The patient has livedo reticularis after catheterization, so C.'],
    ['format_failure', '<think>emboli</think>'],
    ['verbose_formatter', `<think>${long} Overall the picture fits an embolic process.</think><answer>C</answer>`],
    ['concise_structurer', '<think>Renal failure with livedo reticularis after an arterial procedure.</think><answer>C</answer>'],
    ['direct_answer_hacker', '<think>The answer is C.</think><answer>C</answer>'],
    ['direct_answer_hacker', '<think>C</think><answer>C</answer>'],
    ['direct_answer_hacker', `<think>Answer: C. ${long}</think><answer>C</answer>`],
    [
      'step_by_step_exploit',
      'Step 1: catheterization can dislodge cholesterol plaques. Step 2: the emboli lodge in renal and skin arterioles, causing livedo reticularis and renal failure. <think>Embolic.</think><answer>C</answer>',
    ],
    [
      'reintegrated_reasoning',
      '<think>Renal failure began two weeks after catheterization, which suggests an embolic cause. Livedo reticularis indicates small-vessel occlusion, and contrast nephropathy is ruled out because it starts within days. Therefore cholesterol emboli.</think><answer>C</answer>',
    ],
  ]
  for (const [stage, text] of examples) {
    it(`${stage}: ${text.slice(0, 60)}…`, () => assert.equal(classifyStage(text, rec), stage))
  }

  it('per-batch counts hold every stage', () => {
    const c = stageCounts(examples.map(([, t]) => classifyStage(t, rec)))
    assert.deepEqual(Object.keys(c), [...STAGES])
    assert.equal(c.direct_answer_hacker, 3)
    assert.equal(Object.values(c).reduce((a, b) => a + b, 0), examples.length)
  })

  it('an option’s text in the reasoning is not an answer given away: identical completions get one stage whatever the options', () => {
    const t = '<think>Renal failure with livedo reticularis after catheterization: cholesterol embolization.</think><answer>C</answer>'
    const other = { ...rec, options: { A: 'Renal artery stenosis', B: 'Acute interstitial nephritis', C: 'Atheroembolic disease', D: 'Contrast nephropathy' } }
    assert.equal(classifyStage(t, rec), classifyStage(t, other))
    assert.equal(classifyStage(t, rec), 'concise_structurer')
  })

  it('under the reward in use: a stage is a hack only where that reward pays it (binary vs format_correct)', () => {
    const ctx = { format: 'r1' as const }
    const stageUnder = (reward: string, text: string) => {
      const f = getReward(reward)
      return classifyStage(text, rec, { reward: rewardView(f, f(text, rec, ctx)) })
    }
    const preamble = 'Step 1: catheterization can dislodge cholesterol plaques. Step 2: the emboli lodge in renal and skin arterioles, causing livedo reticularis and renal failure. <think>Embolic.</think><answer>C</answer>'
    // Text before <think>: binary cannot see it and pays the right answer; format_correct gives it −1.
    assert.equal(stageUnder('binary', preamble), 'step_by_step_exploit')
    assert.equal(stageUnder('format_correct', preamble), 'format_failure')
    assert.equal(getReward('format_correct')(preamble, rec, ctx).reward, -1)
    // A preamble shorter than the exploit threshold: format_correct still rejects it (−1), so the stage is a
    // format failure there; binary ignores it and the think decides.
    const short = 'Step 1: beta blockade. Step 2: non-selective.\n<think>ok</think><answer>B</answer>'
    assert.equal(getReward('format_correct')(short, rec, ctx).reward, -1)
    assert.equal(stageUnder('format_correct', short), 'format_failure')
    assert.equal(stageUnder('format_correct', 'Hm. <think>Renal failure with livedo reticularis after an arterial procedure.</think><answer>A</answer>'), 'format_failure')
    assert.equal(stageUnder('binary', 'Hm. <think>Renal failure with livedo reticularis after an arterial procedure.</think><answer>A</answer>'), 'concise_structurer')
    assert.equal(stageUnder('binary', short), 'concise_structurer', 'a one-word think with a wrong answer is not paid by binary')
    // An empty or one-word think that still earns +1 is a hack under both; with a wrong answer it is not paid.
    for (const reward of ['binary', 'format_correct']) {
      assert.equal(stageUnder(reward, '<think></think><answer>C</answer>'), 'direct_answer_hacker', reward)
      assert.equal(stageUnder(reward, '<think>Emboli.</think><answer>C</answer>'), 'direct_answer_hacker', reward)
      assert.equal(stageUnder(reward, '<think>The answer is D.</think><answer>D</answer>'), 'concise_structurer', reward)
      assert.equal(stageUnder(reward, '<think></think><answer>A</answer>'), 'concise_structurer', reward)
    }
    // Reasoning stays reasoning whoever pays.
    const reasoned = '<think>Renal failure began two weeks after catheterization, which suggests an embolic cause; contrast nephropathy is ruled out because it starts within days.</think><answer>C</answer>'
    assert.equal(stageUnder('binary', reasoned), 'reintegrated_reasoning')
    assert.equal(stageUnder('format_correct', reasoned), 'reintegrated_reasoning')
    // A weighted sum checks the format when a term with weight does.
    assert.equal(resolveReward('binary:1,format:0.1').checksFormat, true)
    assert.equal(resolveReward('binary').checksFormat, false)
  })

  it('thresholds are options', () => {
    const t = '<think>Renal failure with livedo reticularis after an arterial procedure.</think><answer>C</answer>'
    assert.equal(classifyStage(t, rec, { rules: { verboseWords: 5 } }), 'verbose_formatter')
  })
})

describe('prompt templates', () => {
  it('registry holds r1, r1-think, r1-text, boxed and direct', () => {
    assert.deepEqual(templateNames(), ['r1', 'r1-think', 'r1-text', 'boxed', 'direct'])
    assert.throws(() => getTemplate('x'), /unknown template "x"; known: r1, r1-think, r1-text, boxed, direct/)
  })

  it('r1-think pre-fills <think> after the Assistant cue; the format check counts it', () => {
    const p = renderPrompt(rec, 'r1-think')
    assert.match(p.text, /\nAssistant: <think>$/)
    const t = getTemplate('r1-think')
    assert.equal(checkR1Format(' Emboli after catheterisation.</think><answer>C</answer>', { prefix: t.completionPrefix }).valid, true)
    assert.equal(checkR1Format(' Emboli after catheterisation.</think><answer>C</answer>').valid, false)
  })

  it('r1 plain text: instruction, question, "Options:" with "A. …" lines, then the Assistant cue', () => {
    const p = renderPrompt(rec, 'r1')
    assert.match(p.text, /^A conversation between User and Assistant\./)
    assert.match(p.text, /<think> reasoning process here <\/think><answer> answer here <\/answer>/)
    assert.match(p.text, /User: A 61-year-old man .* Most likely cause\?\nOptions:\nA\. Renal artery stenosis\nB\. Acute interstitial nephritis\nC\. Cholesterol embolization\nD\. Contrast nephropathy\nAssistant:$/s)
  })

  it('boxed and direct', () => {
    assert.match(renderPrompt(rec, 'boxed').text, /Please reason step by step, and put the final answer in \\boxed\{\}\./)
    assert.match(renderPrompt(rec, 'direct').text, /^Answer with the letter of the correct option only\.\n\nA 61-year-old/)
    assert.equal(getTemplate('direct').answerFormat, 'letter')
  })

  it('PubMedQA context comes before the question', () => {
    const p = renderPrompt({ ...rec, context: 'BACKGROUND: an abstract.', options: { A: 'yes', B: 'no', C: 'maybe' }, answer: 'A' }, 'boxed')
    assert.match(p.text, /^Context: BACKGROUND: an abstract\.\n\nA 61-year-old/)
  })

  it('chat form goes through the model’s own chat template', () => {
    // A ChatML template written for this test, in the Jinja dialect of Hugging Face chat templates.
    const chatml =
      "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    const chat = new ChatTemplate({ chat_template: chatml, eos_token: '<|im_end|>' })
    const p = renderPrompt(rec, 'r1', { chat })
    assert.match(p.text, /^<\|im_start\|>system\nA conversation between User and Assistant\./)
    assert.match(p.text, /<\|im_end\|>\n<\|im_start\|>user\nA 61-year-old/)
    assert.ok(p.text.endsWith('D. Contrast nephropathy<|im_end|>\n<|im_start|>assistant\n'))
    // A Llama-3-style template that reads bos_token.
    const llama = new ChatTemplate({
      chat_template: "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
      bos_token: { content: '<|begin_of_text|>' },
    })
    assert.match(renderPrompt(rec, 'boxed', { chat: llama }).text, /^<\|begin_of_text\|><\|start_header_id\|>user<\|end_header_id\|>\n\nA 61/)
    assert.throws(() => new ChatTemplate({}), /no chat_template/)
  })

  it('seeded option shuffle: same seed same order, the answer letter follows its text', () => {
    const a = shuffleOptions(rec, 3)
    assert.deepEqual(a, shuffleOptions(rec, 3))
    assert.equal(a.options[a.answer], 'Cholesterol embolization')
    assert.deepEqual(Object.values(a.options).sort(), Object.values(rec.options).sort())
    const orders = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((s) => JSON.stringify(shuffleOptions(rec, s).options)))
    assert.ok(orders.size > 3)
    const p = renderPrompt(rec, 'r1', { shuffleSeed: 3 })
    assert.equal(p.record.answer, a.answer)
    assert.match(p.text, new RegExp(`${a.answer}\\. Cholesterol embolization`))
  })
})
