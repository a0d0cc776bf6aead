import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { parseTrainConfig } from '../../src/rl/config.js'
import { train, type StepLog } from '../../src/rl/trainer.js'
import { colorRuleTask } from '../../src/synth/toy-task.js'
import { writeRecords } from '../../src/data/jsonl.js'
import { ROOT, runCli, tempDir } from '../helpers.js'

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length

function toyConfig(algorithm: 'grpo' | 'ppo', steps: number, extra: Record<string, unknown> = {}) {
  return {
    algorithm,
    seed: 0,
    total_steps: steps,
    model: { init: { hidden: 64, layers: 2, heads: 4, kv_heads: 2, intermediate: 128, pretrain_steps: 150 } },
    data: { task: { size: 128 }, template: 'direct', reward: algorithm === 'ppo' ? 'format_correct' : 'binary' },
    rollout: { train_batch_size: 16, num_generations: 8, max_new_tokens: 4 },
    actor: { learning_rate: 3e-4, micro_batch_size: 128 },
    trainer: { save_steps: 0 },
    ...extra,
  }
}

describe('RL on a learnable toy task (each well under a minute on 2 cores)', () => {
  for (const algorithm of ['grpo', 'ppo'] as const) {
    it(`${algorithm} raises the mean reward clearly above its start`, async () => {
      const dir = tempDir(`medrl-${algorithm}-`)
      const logs: StepLog[] = []
      const extra = algorithm === 'ppo' ? { kl: { kl_coef: 0.01, kl_estimator: 'k1' }, actor: { learning_rate: 3e-4, micro_batch_size: 128, ppo_epochs: 2 } } : {}
      await train(parseTrainConfig(toyConfig(algorithm, 14, extra)), dir, { onStep: (l) => logs.push(l) })
      const start = mean(logs.slice(0, 2).map((l) => l.data['reward/mean']!))
      const end = mean(logs.slice(-4).map((l) => l.data['reward/mean']!))
      assert.ok(end > start + 0.2, `reward from ${start.toFixed(3)} to ${end.toFixed(3)}`)
      const names = Object.keys(logs[0]!.data)
      for (const k of ['reward/mean', 'reward/std', 'accuracy/mean', 'format/valid_rate', 'rollout/effective_ratio', 'rollout/solve_all', 'rollout/solve_none', 'response_length/mean', 'response_length/clip_ratio', 'actor/kl', 'actor/entropy', 'actor/clipfrac', 'actor/grad_norm', 'actor/lr', 'time/generate', 'time/update', 'perf/tokens_per_s']) {
        assert.ok(names.includes(k), `metric ${k}`)
      }
      if (algorithm === 'ppo') assert.ok(names.includes('critic/value_loss') && names.includes('time/reference'))
      const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l))
      assert.deepEqual(lines.map((l) => l.step), logs.map((l) => l.step))
      assert.ok(readFileSync(join(dir, 'samples.jsonl'), 'utf8').includes('"completion"'))
      assert.ok(existsSync(join(dir, 'checkpoints', 'step-000014', 'model.safetensors')))
    })
  }
})

describe('validation and prompt length, as on verl', () => {
  it('data.val_files with trainer.eval_steps log greedy val/accuracy every N steps and at the end; overlong prompts are left out', async () => {
    const dir = tempDir('medrl-val-')
    const val = join(dir, 'val.jsonl')
    writeRecords(val, colorRuleTask(24, 99))
    const logs: StepLog[] = []
    const infos: string[] = []
    const cfg = parseTrainConfig(toyConfig('grpo', 3, { data: { task: { size: 128 }, template: 'direct', reward: 'binary', val_files: [val] }, trainer: { save_steps: 0, eval_steps: 2 } }))
    await train(cfg, dir, { onStep: (l) => logs.push(l), info: (m) => infos.push(m) })
    assert.deepEqual(logs.map((l) => typeof l.data['val/accuracy']), ['undefined', 'number', 'number'], 'steps 2 and 3 (the last)')
    const v = logs[1]!.data
    assert.ok(v['val/accuracy']! >= 0 && v['val/accuracy']! <= 1)
    assert.equal(v['val/accuracy/color-rule'], v['val/accuracy'])
    assert.ok(typeof v['time/validate'] === 'number')
    await assert.rejects(train(parseTrainConfig(toyConfig('grpo', 1, { model: { init: { hidden: 32, layers: 1, heads: 2, kv_heads: 1, intermediate: 64, pretrain_steps: 0 } }, data: { task: { size: 16 }, template: 'direct', reward: 'binary', max_prompt_length: 5 } })), tempDir(), { info: (m) => infos.push(m) }), /every training prompt is longer than data\.max_prompt_length \(5 tokens\)/)
    assert.ok(infos.some((m) => /16 of 16 training prompts are longer than data\.max_prompt_length \(5 tokens\): left out/.test(m)))
  })
})

describe('resume', () => {
  it('a run killed after a checkpoint and resumed gives the same metrics and weights as an uninterrupted run', async () => {
    const cfgFile = join(tempDir(), 'run.yaml')
    writeFileSync(cfgFile, YAML.stringify(toyConfig('grpo', 6, { trainer: { save_steps: 2, save_total_limit: 5 } })))
    const full = tempDir('medrl-full-')
    const a = runCli(['train', '--config', cfgFile, '--out', full])
    assert.equal(a.code, 0, a.stderr)
    // The same run, killed (SIGKILL) once step 3 is logged (after the step-2 checkpoint), then resumed.
    const cut = tempDir('medrl-cut-')
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'medrl.js'), 'train', '--config', cfgFile, '--out', cut], { stdio: 'ignore' })
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const m = join(cut, 'metrics.jsonl')
        const steps = existsSync(m) ? readFileSync(m, 'utf8').split('\n').filter((l) => l.startsWith('{')).length : 0
        if (steps >= 3) {
          clearInterval(timer)
          child.kill('SIGKILL')
          resolve()
        }
      }, 20)
      child.once('exit', () => {
        clearInterval(timer)
        reject(new Error('the run ended before it could be killed'))
      })
    }).catch((e: Error) => assert.fail(e.message))
    await new Promise((r) => child.once('exit', r))
    assert.ok(!existsSync(join(cut, 'checkpoints', 'step-000006')), 'killed before the end')
    const b = runCli(['train', '--resume', cut])
    assert.equal(b.code, 0, b.stderr)
    assert.match(b.stderr, /resuming at step [24] from/)
    const strip = (dir: string) =>
      readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as StepLog)
        .map((l) => ({ step: l.step, data: Object.fromEntries(Object.entries(l.data).filter(([k]) => !k.startsWith('time/') && !k.startsWith('perf/'))) }))
    assert.deepEqual(strip(cut), strip(full))
    const w = (dir: string) => readFileSync(join(dir, 'checkpoints', 'step-000006', 'model.safetensors'))
    assert.ok(w(cut).equals(w(full)), 'identical weights at the last step')
    const o = (dir: string) => readFileSync(join(dir, 'checkpoints', 'step-000006', 'optimizer.safetensors'))
    assert.ok(o(cut).equals(o(full)), 'identical optimizer state')
    assert.deepEqual(readdirSync(join(full, 'checkpoints')), ['step-000002', 'step-000004', 'step-000006'])
    assert.ok(YAML.parse(readFileSync(join(full, 'config.yaml'), 'utf8')).actor.clip_ratio_low === 0.2, 'the resolved config, defaults included')
  })
})

describe('medrl train CLI', () => {
  it('--help-config lists every option with default and help; bad options are named', () => {
    const r = runCli(['train', '--help-config'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /actor\.clip_ratio_high\s+0\.2\s+ratio clip above 1/)
    assert.match(r.stdout, /advantage\.scale_rewards\s+"group"/)
    const dir = tempDir()
    const cfg = join(dir, 'c.yaml')
    writeFileSync(cfg, YAML.stringify(toyConfig('grpo', 2)))
    const bad = runCli(['train', '--config', cfg, '--out', join(dir, 'run'), '--set', 'actor.loss_agg_mode=sum-of-everything'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /actor\.loss_agg_mode: Invalid option/)
    const unknown = runCli(['train', '--config', cfg, '--out', join(dir, 'run'), '--set', 'actor.learning_rat=1'])
    assert.match(unknown.stderr, /actor: Unrecognized key: "learning_rat"/)
  })
})

describe('nothing lost, nothing stale', () => {
  it('a new run into a directory that holds one is refused and the old run is untouched; a missing model path writes nothing', () => {
    const dir = tempDir()
    const cfg = join(dir, 'c.yaml')
    writeFileSync(cfg, YAML.stringify(toyConfig('grpo', 2)))
    const run = join(dir, 'run')
    mkdirSync(run)
    const metrics = Array.from({ length: 40 }, (_, i) => JSON.stringify({ step: i + 1, data: { 'reward/mean': 0.5 } })).join('\n') + '\n'
    writeFileSync(join(run, 'metrics.jsonl'), metrics)
    const r = runCli(['train', '--config', cfg, '--out', run])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /run: already holds a run; give another --out, or --resume .*run to continue it/)
    assert.equal(readFileSync(join(run, 'metrics.jsonl'), 'utf8'), metrics)
    assert.deepEqual(readdirSync(run), ['metrics.jsonl'])
    const noModel = join(dir, 'c2.yaml')
    writeFileSync(noModel, YAML.stringify({ ...toyConfig('grpo', 2), model: { path: join(dir, 'nowhere') } }))
    const m = runCli(['train', '--config', noModel, '--out', join(dir, 'run2')])
    assert.equal(m.code, 1)
    assert.match(m.stderr, /model\.path .*nowhere: no config\.json there/)
    assert.ok(!existsSync(join(dir, 'run2')), 'no empty run directory left behind')
  })

  it('temporaries of checkpoints cut off by a kill are cleaned at the next checkpoint; a cut-off trainer_state.json is named', async () => {
    const run = tempDir()
    mkdirSync(join(run, 'checkpoints', '.step-000001.tmp-4242'), { recursive: true })
    writeFileSync(join(run, 'checkpoints', '.step-000001.tmp-4242', 'model.safetensors'), 'half')
    await train(parseTrainConfig(toyConfig('grpo', 1, { model: { init: { hidden: 32, layers: 1, heads: 2, kv_heads: 1, intermediate: 64, pretrain_steps: 0 } }, rollout: { train_batch_size: 4, num_generations: 2, max_new_tokens: 2 }, trainer: { save_steps: 1 } })), run)
    assert.deepEqual(readdirSync(join(run, 'checkpoints')), ['step-000001'])
    writeFileSync(join(run, 'checkpoints', 'step-000001', 'trainer_state.json'), '{"step": 1, "epo')
    const r = runCli(['train', '--resume', run])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /step-000001\/trainer_state\.json: this checkpoint state is not valid JSON .*cut off while being written/)
  })

  it('a kill while the toy base is pretrained leaves no base that looks finished; the resumed run builds it anew', async () => {
    const dir = tempDir()
    const cfg = join(dir, 'c.yaml')
    writeFileSync(cfg, YAML.stringify(toyConfig('grpo', 1, { model: { init: { hidden: 64, layers: 2, heads: 4, kv_heads: 2, intermediate: 128, pretrain_steps: 5000 } } })))
    const run = join(dir, 'run')
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'medrl.js'), 'train', '--config', cfg, '--out', run], { stdio: 'ignore' })
    const building = () => existsSync(run) && readdirSync(run).some((n) => n.startsWith('base.tmp-') && existsSync(join(run, n, 'config.json')))
    for (let i = 0; i < 600 && !building(); i++) await new Promise((r) => setTimeout(r, 100))
    assert.ok(building(), 'the base is being built under a temporary name')
    await new Promise((r) => setTimeout(r, 500)) // well into pretraining
    child.kill('SIGKILL')
    await new Promise((r) => child.on('exit', r))
    assert.ok(!existsSync(join(run, 'base', 'config.json')), 'no finished-looking base after the kill')
    const resumed = runCli(['train', '--resume', run, '--set', 'model.init.pretrain_steps=20'])
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.match(resumed.stderr, /toy model pretrained: loss/)
    assert.ok(existsSync(join(run, 'base', 'model.safetensors')))
    assert.deepEqual(readdirSync(run).filter((n) => n.includes('.tmp-')), [], 'the half-built base is cleaned away')
  })
})

describe('programs released between phases', () => {
  it('trainer.release_programs: true gives the same metrics as keeping the programs (PPO with a reference: every phase)', async () => {
    const run = async (release: boolean) => {
      const logs: StepLog[] = []
      const extra = { kl: { kl_coef: 0.01, kl_estimator: 'k1' }, trainer: { save_steps: 0, release_programs: release } }
      await train(parseTrainConfig(toyConfig('ppo', 2, extra)), tempDir('medrl-release-'), { onStep: (l) => logs.push(l) })
      return logs.map((l) => Object.fromEntries(Object.entries(l.data).filter(([k]) => !k.startsWith('time/') && !k.startsWith('perf/'))))
    }
    const kept = await run(false)
    assert.equal(kept.length, 2)
    assert.ok('critic/value_loss' in kept[0]! && 'actor/kl' in kept[0]!)
    assert.deepEqual(await run(true), kept)
  })
})

describe('the on-policy shortcut', () => {
  it('one epoch in one mini-batch: old_log_probs from the update itself, no pass of their own; the same metrics and weights as the recomputed path within float tolerance (GRPO with a KL loss to the reference)', async () => {
    const run = async (shortcut: boolean) => {
      const logs: StepLog[] = []
      const dir = tempDir('medrl-onpolicy-')
      const extra = { kl: { kl_coef: 0.01, kl_estimator: 'k3', use_kl_in_reward: false }, actor: { learning_rate: 3e-4, micro_batch_size: 32, on_policy_shortcut: shortcut }, trainer: { save_steps: 3 } }
      await train(parseTrainConfig(toyConfig('grpo', 3, extra)), dir, { onStep: (l) => logs.push(l) })
      const { readWeights } = await import('../../src/model/safetensors.js')
      const weights = Object.fromEntries(Object.entries(readWeights(join(dir, 'checkpoints', 'step-000003')).weights).map(([n, t]) => [n, t.data as Float32Array]))
      return { logs, weights }
    }
    const fast = await run(true)
    const slow = await run(false)
    for (const l of fast.logs) {
      assert.equal(l.data['actor/on_policy_shortcut'], 1)
      assert.equal(l.data['time/old_log_probs'], undefined, 'no pass of their own')
    }
    for (const l of slow.logs) {
      assert.equal(l.data['actor/on_policy_shortcut'], 0)
      assert.equal(typeof l.data['time/old_log_probs'], 'number')
    }
    for (const [i, l] of fast.logs.entries()) {
      const other = slow.logs[i]!.data
      for (const [k, v] of Object.entries(l.data)) {
        if (k.startsWith('time/') || k.startsWith('perf/') || k === 'actor/on_policy_shortcut') continue
        assert.ok(Math.abs(v - other[k]!) <= 1e-4 * Math.max(1, Math.abs(v)), `step ${l.step} ${k}: ${v} vs ${other[k]}`)
      }
    }
    let worst = 0
    for (const [n, w] of Object.entries(fast.weights)) {
      const o = slow.weights[n]!
      for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(w[j]! - o[j]!))
    }
    assert.ok(worst < 1e-5, `largest weight difference ${worst}`)
    // PPO keeps its pass: the values come from it, and its KL in the reward needs old_log_probs first.
    const ppo: StepLog[] = []
    await train(parseTrainConfig(toyConfig('ppo', 1, { kl: { kl_coef: 0.01, kl_estimator: 'k1' } })), tempDir('medrl-onpolicy-ppo-'), { onStep: (l) => ppo.push(l) })
    assert.equal(ppo[0]!.data['actor/on_policy_shortcut'], 0)
  })
})

describe('RL with LoRA', () => {
  it('GRPO trains adapters on a frozen base: the reward rises, the KL to the reference (the base with the adapters off) starts at 0, checkpoints are adapters that evaluate merged; PPO with LoRA is refused in one line', async () => {
    const dir = tempDir('medrl-grpo-lora-')
    const logs: StepLog[] = []
    const infos: string[] = []
    const extra = { actor: { learning_rate: 3e-3, micro_batch_size: 128, lora: { rank: 8 } }, kl: { kl_coef: 0.01, kl_estimator: 'k3', use_kl_in_reward: false }, trainer: { save_steps: 7 } }
    await train(parseTrainConfig(toyConfig('grpo', 14, extra)), dir, { onStep: (l) => logs.push(l), info: (m) => infos.push(m) })
    assert.ok(infos.some((m) => /^LoRA: rank 8 on 14 modules \(q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj\), [\d,]+ trainable parameters; the base stays frozen$/.test(m)), infos.join('\n'))
    // New adapters: the policy is the reference (to float rounding: the update's program scores as the reference's does, in another graph).
    assert.ok(Math.abs(logs[0]!.data['actor/kl']!) < 1e-9, `step 1 KL ${logs[0]!.data['actor/kl']}`)
    const start = mean(logs.slice(0, 2).map((l) => l.data['reward/mean']!))
    const end = mean(logs.slice(-4).map((l) => l.data['reward/mean']!))
    assert.ok(end > start + 0.15, `reward from ${start.toFixed(3)} to ${end.toFixed(3)}`)
    const ck = join(dir, 'checkpoints', 'step-000014')
    assert.ok(existsSync(join(ck, 'adapter_config.json')) && !existsSync(join(ck, 'model.safetensors')))
    const adapterCfg = JSON.parse(readFileSync(join(ck, 'adapter_config.json'), 'utf8'))
    assert.equal(adapterCfg.base_model_name_or_path, join(dir, 'base'))
    writeRecords(join(dir, 'toy.jsonl'), colorRuleTask(32, 5))
    const ev = runCli(['eval', '--model', ck, '--benchmarks', `toy=${join(dir, 'toy.jsonl')}`, '--template', 'direct', '--max-new-tokens', '4', '--out', join(dir, 'eval')])
    assert.equal(ev.code, 0, ev.stderr)
    await assert.rejects(train(parseTrainConfig(toyConfig('ppo', 1, { actor: { lora: { rank: 4 } } })), tempDir('medrl-ppo-lora-')), /actor\.lora with advantage\.estimator gae: PPO's value head sits on the policy's last hidden state/)
  })
})
