import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import YAML from 'yaml'
import { importFiles } from '../../src/data/import.js'
import { getReward } from '../../src/reward/rewards.js'
import { scoreOutput } from '../../src/reward/score.js'
import { getTemplate, renderPrompt } from '../../src/reward/templates.js'
import { hydraValue } from '../../src/verl/schema.js'
import { ROOT, dataFile, runCli, tempDir } from '../helpers.js'
import { DEMO_BASE, freePort, processesMentioning, standinEnv, standinMissing } from '../standin.js'

/** Debian's python3, where CI installs python3-omegaconf (the library under Hydra). */
const PY = '/usr/bin/python3'
const SCHEMA = join(ROOT, 'data', 'verl-0.9.0', 'ppo_trainer.yaml')
const HERE = join(ROOT, 'test', 'verl')

function omegaconfCheck(overridesFile: string): { ok: boolean; out: string } {
  const r = spawnSync(PY, [join(HERE, 'check_overrides.py'), SCHEMA, overridesFile], { encoding: 'utf8' })
  assert.ok(!/No module named 'omegaconf'/.test(r.stderr), 'Debian python3-omegaconf is needed: apt-get install -y python3-omegaconf')
  return { ok: r.status === 0, out: (r.stdout + r.stderr).trim() }
}

async function readParquet(path: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:')
  const c = await db.connect()
  const r = await c.runAndReadAll(`SELECT * FROM read_parquet('${path.replace(/'/g, "''")}')`)
  const rows = r.getRowObjectsJson() as Record<string, unknown>[]
  c.closeSync()
  return rows
}

function writeConfig(dir: string, cfg: Record<string, unknown>): string {
  const p = join(dir, 'run.yaml')
  writeFileSync(p, YAML.stringify(cfg))
  return p
}

const MEDQA = dataFile('medqa/medqa_test.jsonl')

/** A config that sets every key the bridge maps (non-default values where the key allows). */
const EVERY_KEY = {
  engine: 'verl',
  algorithm: 'ppo',
  seed: 7,
  total_steps: 12,
  model: { path: 'Qwen/Qwen2.5-3B' },
  data: { files: [MEDQA], val_files: [dataFile('medqa/medqa_input.jsonl')], max_prompt_length: 900, template: 'r1-think', chat: false, reward: 'format_correct', shuffle: false },
  rollout: { train_batch_size: 32, num_generations: 4, max_new_tokens: 700, temperature: 0.9, top_p: 0.95, dynamic_sampling: true, max_resample_rounds: 2 },
  actor: { learning_rate: 2e-6, lr_scheduler: 'cosine', warmup_steps: 3, weight_decay: 0.01, max_grad_norm: 0.5, ppo_epochs: 2, mini_batch_size: 64, micro_batch_size: 4, policy_loss: 'vanilla', clip_ratio_low: 0.2, clip_ratio_high: 0.28, clip_ratio_c: 3, loss_agg_mode: 'seq-mean-token-sum-norm', entropy_coeff: 0.001, recompute_old_log_probs: true },
  kl: { kl_coef: 0.002, kl_estimator: 'k2', use_kl_in_reward: true },
  advantage: { estimator: 'gae', scale_rewards: 'group', gamma: 0.99, lam: 0.95, whiten: true },
  critic: { cliprange_value: 0.4 },
  trainer: { save_steps: 4, save_total_limit: 2, eval_steps: 4, log_samples: 6 },
  verl: {
    nnodes: 2,
    n_gpus_per_node: 4,
    rollout_name: 'sglang',
    tensor_model_parallel_size: 2,
    gpu_memory_utilization: 0.55,
    param_offload: true,
    optimizer_offload: true,
    gradient_checkpointing: true,
    critic_model_path: 'Qwen/Qwen2.5-0.5B',
    critic_learning_rate: 2e-5,
    project_name: 'medrl-test',
    experiment_name: 'every-key',
    ray_address: 'http://127.0.0.1:8265',
    reward_url: 'http://127.0.0.1:8765',
    reward_workers: 4,
    overrides: ['trainer.balance_batch=false', '+trainer.medrl_note=every-key'],
  },
}

describe('verl prepare: one config, checked against verl 0.9 before anything runs', () => {
  const dir = tempDir('medrl-verl-')

  it('both recipes and a config using every mapped key: every override merges into ppo_trainer.yaml in struct mode', () => {
    const cases: [string, string[]][] = [
      [join(ROOT, 'examples', 'verl', 'alphamed-grpo-llama8b.yaml'), [`data.files=[${MEDQA}]`]],
      [join(ROOT, 'examples', 'verl', 'medrlvr-ppo-qwen3b.yaml'), [`data.files=[${MEDQA}]`]],
      [writeConfig(dir, EVERY_KEY), []],
    ]
    for (const [i, [cfg, sets]] of cases.entries()) {
      const out = join(dir, `prep-${i}`)
      const r = runCli(['verl', 'prepare', '--config', cfg, '--out', out, ...sets.flatMap((s) => ['--set', s])])
      assert.equal(r.code, 0, r.stderr)
      for (const f of ['train.parquet', 'val.parquet', 'reward.py', 'overrides.txt', 'run.sh', 'config.yaml']) assert.ok(existsSync(join(out, f)), `${cfg}: ${f}`)
      const check = omegaconfCheck(join(out, 'overrides.txt'))
      assert.ok(check.ok, `${cfg}: ${check.out}`)
      const lines = readFileSync(join(out, 'overrides.txt'), 'utf8').trim().split('\n')
      assert.equal(check.out, `ok ${lines.length}`)
      // run.sh carries the same overrides, in the exact command.
      const sh = readFileSync(join(out, 'run.sh'), 'utf8')
      assert.match(sh, /-m verl\.trainer\.main_ppo/)
      assert.equal(spawnSync('bash', ['-n', join(out, 'run.sh')]).status, 0, 'run.sh parses')
    }
    const every = readFileSync(join(dir, 'prep-2', 'overrides.txt'), 'utf8')
    for (const line of [
      'algorithm.adv_estimator=gae',
      'critic.model.path=Qwen/Qwen2.5-0.5B',
      'actor_rollout_ref.rollout.n=4',
      'actor_rollout_ref.actor.ppo_mini_batch_size=16', // 64 rollouts ÷ 4 per prompt
      'algorithm.kl_penalty=mse',
      'algorithm.use_kl_in_reward=true',
      'algorithm.filter_groups.enable=true',
      'algorithm.filter_groups.max_num_gen_batches=3',
      'actor_rollout_ref.actor.optim.lr_scheduler_type=cosine',
      'actor_rollout_ref.rollout.name=sglang',
      'critic.fsdp.param_offload=true',
      'trainer.test_freq=4',
      'trainer.experiment_name=every-key',
      'trainer.logger=[console,file]',
      '+trainer.medrl_note=every-key',
    ]) {
      assert.ok(every.split('\n').includes(line), `missing: ${line}`)
    }
    assert.match(readFileSync(join(dir, 'prep-2', 'run.sh'), 'utf8'), /ray job submit --address="\$RAY_ADDRESS"/)
  })

  it('a key verl 0.9 does not have is refused, by prepare and by OmegaConf alike, and nothing is written', () => {
    const cfg = writeConfig(dir, { ...EVERY_KEY, verl: { ...EVERY_KEY.verl, overrides: ['trainer.balance_bach=false'] } })
    const out = join(dir, 'misspelled')
    const r = runCli(['verl', 'prepare', '--config', cfg, '--out', out])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /verl\.overrides: verl 0\.9\.0 has no key "trainer\.balance_bach"/)
    assert.ok(!existsSync(out), 'nothing written')
    writeFileSync(join(dir, 'bad.txt'), 'trainer.balance_bach=false\n')
    const check = omegaconfCheck(join(dir, 'bad.txt'))
    assert.equal(check.ok, false)
    assert.match(check.out, /balance_bach/)
  })

  it('medrl keys with no verl equivalent are errors naming the key', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...EVERY_KEY, model: { init: { hidden: 32 } } }, /model\.path: verl needs a model/],
      [{ ...EVERY_KEY, model: { path: 'x', init: { hidden: 32 } } }, /model\.init: no verl equivalent/],
      [{ ...EVERY_KEY, critic: { vf_coef: 0.2 } }, /critic\.vf_coef: no verl equivalent: verl’s critic is a separate model/],
      [{ ...EVERY_KEY, actor: { ...EVERY_KEY.actor, lr_scheduler: 'linear' } }, /actor\.lr_scheduler: "linear" has no verl equivalent/],
      [{ ...EVERY_KEY, actor: { ...EVERY_KEY.actor, mini_batch_size: 30 } }, /actor\.mini_batch_size: 30 has no verl equivalent: .* multiple of rollout\.num_generations \(4\)/],
      [{ ...EVERY_KEY, trainer: { checkpoint_dtype: 'BF16' } }, /trainer\.checkpoint_dtype: no verl equivalent/],
      [{ ...EVERY_KEY, data: { ...EVERY_KEY.data, files: [join(dir, 'missing.jsonl')] } }, /data file .*missing\.jsonl: no such file/],
    ]
    for (const [i, [c, re]] of cases.entries()) {
      const out = join(dir, `bad-${i}`)
      const r = runCli(['verl', 'prepare', '--config', writeConfig(dir, c), '--out', out])
      assert.equal(r.code, 1, JSON.stringify(c))
      assert.match(r.stderr, re)
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line')
      assert.ok(!existsSync(out), 'nothing written')
    }
  })

  it('Hydra values: strings quoted by Hydra’s rules read back as they were', () => {
    const values = ['plain/path.parquet', 'with space', "it's", 'a\\b', 'ends\\', "both\\'s", '{% if bos_token %}{{ bos_token }}{% endif %}', 'true', '1e-3', '']
    const encoded = values.map(hydraValue)
    assert.equal(encoded[0], 'plain/path.parquet')
    assert.equal(encoded[2], "'it\\'s'")
    assert.equal(encoded[3], "'a\\b'", 'a backslash inside is left alone')
    assert.equal(encoded[7], "'true'", 'a string that would read as another type is quoted')
    const r = spawnSync(PY, ['-c', `import sys, json; sys.path.insert(0, ${JSON.stringify(HERE)}); from check_overrides import parse_value; print(json.dumps([parse_value(x) for x in json.loads(sys.argv[1])]))`, JSON.stringify(encoded)], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), values)
    assert.deepEqual([hydraValue(3), hydraValue(1e-6), hydraValue(true), hydraValue(null), hydraValue(['console', 'file'])], ['3', '0.000001', 'true', 'null', '[console,file]'])
  })

  it('--help-config shows each key’s verl name', () => {
    const r = runCli(['train', '--help-config'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /rollout\.num_generations .*\n\s+verl:\s+actor_rollout_ref\.rollout\.n\n/)
    assert.match(r.stdout, /critic\.vf_coef .*\n\s+verl:\s+-\n/)
  })

  it('the parquet rows read back by an independent reader (DuckDB): nested prompt, reward_model and extra_info intact', async () => {
    const { records } = await importFiles([MEDQA])
    const plain = await readParquet(join(dir, 'prep-1', 'train.parquet')) // Med-RLVR recipe: plain R1 text
    assert.equal(plain.length, records.length)
    const byId = new Map(records.map((r) => [r.id, r]))
    for (const row of plain.slice(0, 50)) {
      const extra = row.extra_info as Record<string, unknown>
      const rec = byId.get(extra.id as string)!
      assert.ok(rec, String(extra.id))
      assert.deepEqual(row.prompt, [{ role: 'user', content: renderPrompt(rec, 'r1').text }])
      assert.deepEqual(row.reward_model, { ground_truth: rec.options[rec.answer], style: 'rule' })
      assert.equal(row.data_source, 'medqa')
      assert.equal(extra.answer, rec.answer)
      assert.equal(extra.template, 'r1')
      assert.equal(extra.reward, 'format_correct')
      assert.equal(extra.extract_mode, 'strict')
      assert.equal((extra.options as Record<string, unknown>).A, rec.options.A)
      assert.deepEqual(JSON.parse(extra.meta as string), rec.meta)
    }
    const chat = await readParquet(join(dir, 'prep-0', 'train.parquet')) // AlphaMed recipe: chat messages
    const first = chat[0]!.prompt as { role: string; content: string }[]
    assert.deepEqual(
      first.map((m) => m.role),
      ['user'],
    )
    assert.match(first[0]!.content, /Please reason step by step, and put the final answer in \\boxed\{\}\./)
    // medrl imports its own prepared rows unchanged.
    const back = await importFiles([join(dir, 'prep-1', 'train.parquet')])
    assert.deepEqual(back.records.map((r) => [r.id, r.answer, r.options]), records.map((r) => [r.id, r.answer, r.options]))
  })
})

interface Service {
  url: string
  child: ChildProcess
  stop: () => Promise<void>
}

async function startService(args: string[] = [], env: Record<string, string> = {}): Promise<Service> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'medrl.js'), 'reward', 'serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    let err = ''
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString()
      if (out.includes('\n')) resolve(out.split('\n')[0]!.trim())
    })
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()))
    child.on('exit', (c) => reject(new Error(`reward serve exited ${c}: ${err}`)))
  })
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    })
  return { url, child, stop }
}


interface Call {
  data_source: string
  solution_str: string
  ground_truth: unknown
  extra_info: Record<string, unknown>
}

interface CallResult {
  code: number
  results: Record<string, unknown>[]
  out: string
}

function callsFile(calls: Call[]): string {
  const file = join(tempDir('medrl-calls-'), 'calls.jsonl')
  writeFileSync(file, calls.map((c) => JSON.stringify(c)).join('\n') + '\n')
  return file
}

function callResult(code: number, stdout: string, stderr: string): CallResult {
  const lines = stdout.trim().split('\n').filter((l) => l !== '')
  return { code, results: code === 0 ? lines.map((l) => JSON.parse(l) as Record<string, unknown>) : [], out: (stdout + stderr).trim() }
}

function callReward(rewardPy: string, calls: Call[], env: Record<string, string>): CallResult {
  const r = spawnSync(PY, [join(HERE, 'call_reward.py'), rewardPy, callsFile(calls)], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 })
  return callResult(r.status ?? -1, r.stdout, r.stderr)
}

/** The same, without blocking this process (so a service can start in it meanwhile). */
function callRewardAsync(rewardPy: string, calls: Call[], env: Record<string, string>): Promise<CallResult> {
  const child = spawn(PY, [join(HERE, 'call_reward.py'), rewardPy, callsFile(calls)], { env: { ...process.env, ...env } })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr.on('data', (b: Buffer) => (err += b.toString()))
  return new Promise((resolve) => child.on('close', (code) => resolve(callResult(code ?? -1, out, err))))
}

/** `medrl score` items for the same outputs: the reference the service must match. */
function scoreCli(data: string[], preds: { id: string; output: string }[], template: string, reward: string, mode: string): Record<string, unknown>[] {
  const dir = tempDir('medrl-score-')
  const p = join(dir, 'preds.jsonl')
  writeFileSync(p, preds.map((x) => JSON.stringify(x)).join('\n') + '\n')
  const items = join(dir, 'items.jsonl')
  const r = runCli(['score', '--data', ...data, '--predictions', p, '--template', template, '--reward', reward, '--mode', mode, '--out', items])
  assert.equal(r.code, 0, r.stderr)
  return readFileSync(items, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
}

function assertSame(results: Record<string, unknown>[], items: Record<string, unknown>[]): void {
  assert.equal(results.length, items.length)
  results.forEach((r, i) => {
    const x = items[i]!
    assert.deepEqual(r, { score: x.reward, acc: x.correct ? 1 : 0, format_valid: x.format_valid ? 1 : 0, extracted: x.extracted ?? '', stage: x.stage ?? '' }, `item ${i} (${String(x.id)})`)
  })
}

describe('reward.py (Debian python3) against a live medrl reward serve: one implementation', () => {
  const dir = tempDir('medrl-reward-')
  const services: Service[] = []
  after(async () => {
    for (const s of services) await s.stop()
  })
  const MMLU = [dataFile('mmlu_pro/biology_result.json'), dataFile('mmlu_pro/health_result.json')]

  async function preparedRows(cfg: Record<string, unknown>, name: string): Promise<{ rewardPy: string; rows: Record<string, unknown>[] }> {
    const out = join(dir, name)
    const r = runCli(['verl', 'prepare', '--config', writeConfig(dir, cfg), '--out', out])
    assert.equal(r.code, 0, r.stderr)
    return { rewardPy: join(out, 'reward.py'), rows: await readParquet(join(out, 'train.parquet')) }
  }

  it('identical scores to medrl score on the 1,535 real MMLU-Pro outputs (strict and lenient), all calls concurrent, none lost or doubled', async () => {
    const svc = await startService(['--port', '0'])
    services.push(svc)
    const { rewardPy, rows } = await preparedRows({ engine: 'verl', model: { path: 'm' }, data: { files: MMLU, template: 'boxed', chat: true, reward: 'binary' }, rollout: { train_batch_size: 8 } }, 'mmlu')
    assert.equal(rows.length, 1535)
    const outputs = new Map<string, string>()
    for (const f of MMLU) for (const x of JSON.parse(readFileSync(f, 'utf8')) as { question_id: number; model_outputs: string }[]) outputs.set(`mmlu-pro-${x.question_id}`, x.model_outputs)
    const ids = rows.map((r) => (r.extra_info as { id: string }).id)
    for (const mode of ['strict', 'lenient']) {
      const calls: Call[] = rows.map((r) => ({
        data_source: r.data_source as string,
        solution_str: outputs.get((r.extra_info as { id: string }).id)!,
        ground_truth: (r.reward_model as { ground_truth: string }).ground_truth,
        extra_info: { ...(r.extra_info as Record<string, unknown>), extract_mode: mode },
      }))
      const got = callReward(rewardPy, calls, { MEDRL_REWARD_URL: svc.url })
      assert.equal(got.code, 0, got.out)
      const items = scoreCli(MMLU, ids.map((id) => ({ id, output: outputs.get(id)! })), 'boxed', 'binary', mode)
      assertSame(got.results, items)
      if (mode === 'lenient') {
        const acc = got.results.filter((x) => x.acc === 1).length / got.results.length
        assert.ok(acc > 0.8 && acc < 0.95, `lenient accuracy ${acc}`)
      }
    }
    const health = (await (await fetch(`${svc.url}/health`)).json()) as { scored: number }
    assert.equal(health.scored, 2 * 1535, 'every call scored exactly once')
  })

  it('R1 outputs with and without the pre-filled <think> score as medrl score does', async () => {
    const svc = await startService(['--port', '0'])
    services.push(svc)
    const outputs = [
      ' The vignette points to B.</think><answer>B</answer>',
      '<think>Reasoning.</think><answer>A</answer>',
      ' Because of X, therefore Y, which rules out C.</think><answer>C</answer>',
      'The answer is D.',
      ' short</think><answer>D</answer> trailing',
      '',
    ]
    for (const template of ['r1', 'r1-think']) {
      const { rewardPy, rows } = await preparedRows({ engine: 'verl', model: { path: 'm' }, data: { files: [MEDQA], template, reward: 'format_correct' }, rollout: { train_batch_size: 8 } }, `r1-${template}`)
      const pick = rows.slice(0, 60)
      const calls: Call[] = pick.map((r, i) => ({ data_source: 'medqa', solution_str: outputs[i % outputs.length]!, ground_truth: (r.reward_model as { ground_truth: string }).ground_truth, extra_info: r.extra_info as Record<string, unknown> }))
      const got = callReward(rewardPy, calls, { MEDRL_REWARD_URL: svc.url })
      assert.equal(got.code, 0, got.out)
      const items = scoreCli([MEDQA], pick.map((r, i) => ({ id: (r.extra_info as { id: string }).id, output: outputs[i % outputs.length]! })), template, 'format_correct', 'strict')
      assertSame(got.results, items)
      // The pre-filled tag counts: the same tail is well-formed under r1-think and broken under r1.
      assert.equal(got.results[0]!.format_valid, template === 'r1-think' ? 1 : 0)
      assert.equal(got.results[1]!.format_valid, template === 'r1' ? 1 : 0)
      assert.notEqual(got.results[0]!.stage, '')
    }
  })

  it('survives a restart of the service; names the URL when it is gone; a token guards a non-loopback service', async () => {
    const port = await freePort()
    const { rewardPy, rows } = await preparedRows({ engine: 'verl', model: { path: 'm' }, data: { files: [MEDQA], template: 'r1', reward: 'format_correct' }, rollout: { train_batch_size: 8 } }, 'restart')
    const calls: Call[] = rows.slice(0, 200).map((r) => ({ data_source: 'medqa', solution_str: '<think>x</think><answer>A</answer>', ground_truth: null, extra_info: r.extra_info as Record<string, unknown> }))
    const url = `http://127.0.0.1:${port}`
    // Nothing listens yet: the calls wait and retry; the service comes up a second later; every call gets its answer.
    const pending = callRewardAsync(rewardPy, calls, { MEDRL_REWARD_URL: url, MEDRL_REWARD_RETRY_SECONDS: '30' })
    await new Promise((r) => setTimeout(r, 1000))
    const late = startService(['--port', String(port)])
    const got = await pending
    const svc = await late
    services.push(svc)
    assert.equal(got.code, 0, got.out)
    assert.equal(got.results.length, 200)
    await svc.stop()
    const gone = callReward(rewardPy, calls.slice(0, 3), { MEDRL_REWARD_URL: url, MEDRL_REWARD_RETRY_SECONDS: '1' })
    assert.equal(gone.code, 1)
    assert.match(gone.out, new RegExp(`medrl reward service unreachable at http://127\\.0\\.0\\.1:${port}`))
    const open = runCli(['reward', 'serve', '--host', '0.0.0.0', '--port', '0'])
    assert.equal(open.code, 1)
    assert.match(open.stderr, /non-loopback address needs --token/)
    const guarded = await startService(['--port', '0', '--token', 'sesame'])
    services.push(guarded)
    const wrong = callReward(rewardPy, calls.slice(0, 2), { MEDRL_REWARD_URL: guarded.url, MEDRL_REWARD_TOKEN: 'nope' })
    assert.equal(wrong.code, 1)
    assert.match(wrong.out, /refused the batch: HTTP 401/)
    const right = callReward(rewardPy, calls.slice(0, 2), { MEDRL_REWARD_URL: guarded.url, MEDRL_REWARD_TOKEN: 'sesame' })
    assert.equal(right.code, 0, right.out)
  })
})

describe('verl ingest: metrics and rollout dumps back into a medrl run, resumes without loss or doubling', () => {
  it('a verl run started by other means: ingest writes a new run directory from nothing, and the report names the rollouts that matched no prepared question and the charts they are missing from', async () => {
    const dir = tempDir('medrl-ingest-new-')
    const prepared = join(dir, 'prepared')
    const r = runCli(['verl', 'prepare', '--config', writeConfig(dir, { engine: 'verl', model: { path: 'm' }, data: { files: [MEDQA], template: 'r1', reward: 'format_correct' }, rollout: { train_batch_size: 4, num_generations: 2 } }), '--out', prepared])
    assert.equal(r.code, 0, r.stderr)
    const rows = await readParquet(join(prepared, 'train.parquet'))
    // verl's files elsewhere: one step whose dump holds 4 rollouts of prepared questions and 2 of a question verl got from other files.
    const elsewhere = join(dir, 'cluster')
    mkdirSync(join(elsewhere, 'dumps'), { recursive: true })
    writeFileSync(join(elsewhere, 'metrics.jsonl'), JSON.stringify({ step: 1, data: { 'critic/score/mean': 0.5, 'timing_s/step': 2, 'actor/entropy': 0.9 } }) + '\n')
    const known = rows.slice(0, 2).flatMap((row, p) => [0, 1].map((k) => ({ input: (row.prompt as { content: string }[])[0]!.content, output: '<think>Since it fits, A.</think><answer>A</answer>', gts: (row.reward_model as { ground_truth: string }).ground_truth, score: 0, step: 1, uid: `u${p}_${k}_0` })))
    const unknown = [0, 1].map((k) => ({ input: 'A question from another file. A. one B. two', output: '<answer>A</answer>', gts: 'one', score: 1, step: 1, uid: `x_${k}_0` }))
    writeFileSync(join(elsewhere, 'dumps', '1.jsonl'), [...known, ...unknown].map((x) => JSON.stringify(x)).join('\n') + '\n')
    const out = join(dir, 'new-run')
    assert.ok(!existsSync(out))
    const ing = runCli(['verl', 'ingest', '--prepared', prepared, '--metrics', join(elsewhere, 'metrics.jsonl'), '--rollouts', join(elsewhere, 'dumps'), '--out', out])
    assert.equal(ing.code, 0, ing.stderr)
    assert.match(ing.stderr, /1 steps \(last 1\), 1 rollout dumps, 2 rollouts matched no prepared question/)
    const m = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim()) as { step: number; data: Record<string, number> }
    assert.equal(m.data['ingest/unmatched'], 2)
    assert.equal(m.data['ingest/matched'], 4)
    assert.ok(existsSync(join(out, 'data_lengths.json')))
    const rep = runCli(['report', out, '--out', join(dir, 'report')])
    assert.equal(rep.code, 0, rep.stderr)
    const html = readFileSync(join(dir, 'report', 'index.html'), 'utf8')
    const noteOf = (id: string) => new RegExp(`id="${id}"[\\s\\S]*?<span class="note">([^<]*)</span>`).exec(html)?.[1] ?? ''
    for (const id of ['dynamics-accuracy-mean', 'dynamics-rollout-effective_ratio', 'stages-new-run']) {
      assert.match(noteOf(id), /Rollouts whose prompt matched no question of the prepared train\.parquet \(new-run: 2 of 6 rollouts in steps 1–1\) are left out of this chart/, id)
    }
    assert.doesNotMatch(noteOf('dynamics-reward-mean'), /matched no question/, "verl's own metrics count every rollout")
  })

  it('writes metrics under medrl names plus the rollout metrics verl does not log; the report has every chart', async () => {
    const dir = tempDir('medrl-ingest-')
    const run = join(dir, 'run')
    const prepared = join(run, 'verl')
    const r = runCli(['verl', 'prepare', '--config', writeConfig(dir, { engine: 'verl', model: { path: 'm' }, data: { files: [MEDQA], template: 'r1', reward: 'format_correct' }, rollout: { train_batch_size: 4, num_generations: 4 }, trainer: { log_samples: 3 } }), '--out', prepared])
    assert.equal(r.code, 0, r.stderr)
    const rows = await readParquet(join(prepared, 'train.parquet'))
    const byId = new Map((await importFiles([MEDQA])).records.map((x) => [x.id, x]))
    const rec = (row: Record<string, unknown>) => byId.get((row.extra_info as { id: string }).id)!
    const answers = ['A', 'B', 'C', 'D']
    /** One step: 4 prompts × 4 rollouts; prompt 0 always right, prompt 1 always wrong, prompts 2–3 mixed. */
    const dump = (step: number, tag: string) =>
      rows.slice(step * 4, step * 4 + 4).flatMap((row, p) => {
        const truth = (row.extra_info as { answer: string }).answer
        const input = (row.prompt as { content: string }[])[0]!.content.replace(/ ([,.])/g, '$1') // as a tokenizer's clean-up might decode it
        return [0, 1, 2, 3].map((k) => {
          const letter = p === 0 ? truth : p === 1 ? answers.find((a) => a !== truth)! : k % 2 === 0 ? truth : answers.find((a) => a !== truth)!
          const output = k === 3 && p === 3 ? `${tag} no tags, ${letter}` : `<think>Because the findings point there, therefore ${letter}.</think><answer>${letter}</answer>`
          const score = scoreOutput(output, rec(row), { template: getTemplate('r1'), reward: getReward('format_correct'), mode: 'strict' }).reward // as the reward service gave verl
          return { input, output, gts: (row.reward_model as { ground_truth: string }).ground_truth, score, step, uid: `u${step}-${p}_0_${k}` }
        })
      })
    const metricsFile = join(prepared, 'metrics.jsonl')
    const rollouts = join(prepared, 'rollouts')
    mkdirSync(rollouts, { recursive: true })
    const verlRow = (step: number, v: number) => ({ step, data: { 'critic/score/mean': v, 'actor/entropy': 1 - v / 10, 'actor/pg_clipfrac': 0.01 * step, 'actor/kl_loss': 0.001 * step, 'response_length/mean': 20 + step, 'timing_s/step': 3, 'training/global_step': step } })
    // First attempt: steps 1–6.
    writeFileSync(metricsFile, [1, 2, 3, 4, 5, 6].map((s) => JSON.stringify(verlRow(s, 0.1 * s))).join('\n') + '\n')
    for (const s of [1, 2, 3, 4, 5, 6]) writeFileSync(join(rollouts, `${s}.jsonl`), dump(s, 'first').map((x) => JSON.stringify(x)).join('\n') + '\n')
    let ing = runCli(['verl', 'ingest', run])
    assert.equal(ing.code, 0, ing.stderr)
    const read = () => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; data: Record<string, number> })
    let m = read()
    assert.deepEqual(m.map((x) => x.step), [1, 2, 3, 4, 5, 6])
    const s1 = m[0]!.data
    assert.equal(s1['critic/score/mean'], 0.1, "verl's name kept")
    assert.equal(s1['actor/clipfrac'], 0.01)
    assert.equal(s1['actor/kl'], 0.001)
    assert.equal(s1['rollout/effective_ratio'], 0.5, 'two of four groups mixed')
    assert.equal(s1['rollout/solve_all'], 0.25)
    assert.equal(s1['rollout/solve_none'], 0.25)
    assert.equal(s1['format/valid_rate'], 15 / 16)
    assert.equal(s1['accuracy/mean'], (4 + 0 + 2 + 2) / 16)
    assert.equal(s1['stage/format_failure'], 1 / 16)
    assert.equal(s1['ingest/unmatched'], undefined, 'every rollout found its question')
    // The run is resumed from its step-3 checkpoint: verl opens the metrics file anew and re-does steps 4–8.
    writeFileSync(metricsFile, [4, 5, 6, 7, 8].map((s) => JSON.stringify(verlRow(s, 0.05 * s))).join('\n') + '\n{"step": 9, "da')
    for (const s of [4, 5, 6, 7, 8]) writeFileSync(join(rollouts, `${s}.jsonl`), dump(s, 'second').map((x) => JSON.stringify(x)).join('\n') + '\n')
    ing = runCli(['verl', 'ingest', run])
    assert.equal(ing.code, 0, ing.stderr)
    m = read()
    assert.deepEqual(m.map((x) => x.step), [1, 2, 3, 4, 5, 6, 7, 8], 'nothing lost, nothing doubled; the half-written line waits')
    assert.equal(m[2]!.data['critic/score/mean'], 0.1 * 3, 'steps before the resume kept')
    assert.equal(m[3]!.data['critic/score/mean'], 0.05 * 4, 're-done steps from the resumed run')
    const samples = readFileSync(join(run, 'samples.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    assert.equal(samples.length, 8 * 3, 'log_samples per step')
    assert.ok(samples.some((s) => String(s.completion).startsWith('second')) || samples.some((s) => s.step === 8))
    assert.deepEqual(Object.keys(samples[0]!), ['step', 'id', 'source', 'answer', 'completion', 'extracted', 'correct', 'reward', 'stage'])
    const rep = runCli(['report', run, '--out', join(dir, 'report')])
    assert.equal(rep.code, 0, rep.stderr)
    const charts = readdirSync(join(dir, 'report')).filter((f) => f.endsWith('.svg')).map((f) => f.replace(/\.svg$/, ''))
    for (const c of ['dynamics-reward-mean', 'dynamics-accuracy-mean', 'dynamics-rollout-effective_ratio', 'dynamics-response_length-mean', 'dynamics-actor-kl', 'dynamics-actor-entropy', 'dynamics-actor-clipfrac', 'stages-run', 'question-lengths']) {
      assert.ok(charts.includes(c), `chart ${c} (have ${charts.join(', ')})`)
    }
  })
})

describe('train --engine verl: prepare, serve the reward, run, follow and ingest (verl replaced by its stand-in)', { skip: standinMissing() }, () => {
  it('runs run.sh with the reward service up, reads metrics while it runs, ends with the whole run; a finished run is read back, never rerun; refuses a used run directory; names the log when verl fails', async () => {
    const dir = tempDir('medrl-launch-')
    assert.equal(runCli(['synth', '--out', join(dir, 'world')]).code, 0)
    const port = await freePort()
    const base = { engine: 'verl', total_steps: 3, model: { path: DEMO_BASE }, data: { files: [join(dir, 'world', 'train.jsonl')], template: 'r1-text', chat: false, reward: 'binary' }, rollout: { train_batch_size: 4, num_generations: 4, max_new_tokens: 24 }, trainer: { log_samples: 2, save_steps: 1 }, verl: { n_gpus_per_node: 2, reward_url: `http://127.0.0.1:${port}` } }
    const cfg = writeConfig(dir, base)
    // Each stand-in step lasts at least 0.8 s here, so the follow (every 0.2 s) sees the run grow.
    const env = standinEnv({ MEDRL_STANDIN_STEP_SECONDS: '0.8' })
    const run = join(dir, 'run')
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'medrl.js'), 'train', '--config', cfg, '--out', run, '--follow', '0.2'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    const seen: number[] = []
    const poll = setInterval(() => {
      const f = join(run, 'metrics.jsonl')
      if (existsSync(f)) seen.push(readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).length)
    }, 100)
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)))
    clearInterval(poll)
    assert.equal(code, 0, stderr)
    assert.ok(seen.some((n) => n > 0 && n < 3), `metrics grew while verl ran: ${seen.join(',')}`)
    const m = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; data: Record<string, number> })
    assert.deepEqual(m.map((x) => x.step), [1, 2, 3])
    for (const x of m) {
      // What verl's reward function (reward.py → the service) scored, medrl's own re-scoring of the dump agrees with.
      const dump = readFileSync(join(run, 'verl', 'rollouts', `${x.step}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { score: number })
      assert.equal(dump.length, 16)
      const mean = dump.reduce((a, d) => a + d.score, 0) / dump.length
      assert.ok(Math.abs(x.data['critic/score/mean']! - mean) < 1e-12, 'verl logged the mean of the scores it dumped')
      assert.ok(Math.abs(x.data['accuracy/mean']! - mean) < 1e-12, `step ${x.step}: under binary, medrl's accuracy from the dump is the service's mean score`)
      assert.equal(typeof x.data['rollout/effective_ratio'], 'number')
      assert.equal(typeof x.data['time/step'], 'number')
    }
    for (const s of [1, 2, 3]) {
      const actor = join(run, 'verl', 'checkpoints', `global_step_${s}`, 'actor')
      assert.ok(s === 1 || existsSync(join(actor, 'model_world_size_2_rank_1.pt')), `step ${s} checkpoint`)
    }
    assert.equal(readFileSync(join(run, 'verl', 'checkpoints', 'latest_checkpointed_iteration.txt'), 'utf8'), '3')
    assert.ok(!existsSync(join(run, 'verl', 'checkpoints', 'global_step_1', 'actor')), "trainer.save_total_limit 2: the oldest actor checkpoint removed (verl's retention removes the actor directory)")
    assert.ok(existsSync(join(run, 'config.yaml')) && existsSync(join(run, 'samples.jsonl')) && !existsSync(join(run, 'verl', 'verl.pid')))
    // A finished run is read back, never run again.
    const logBefore = readFileSync(join(run, 'verl', 'verl.log'), 'utf8')
    const again = runCli(['train', '--resume', run], { env })
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stderr, /verl already finished this run \(checkpoint of step 3\): reading it back/)
    assert.equal(readFileSync(join(run, 'verl', 'verl.log'), 'utf8'), logBefore)
    // A used run directory is refused; a failing verl run is named with its log and how to resume.
    const used = runCli(['train', '--config', cfg, '--out', run], { env })
    assert.equal(used.code, 1)
    assert.match(used.stderr, /already holds a run; give another --out, or --resume/)
    const failing = runCli(['train', '--config', writeConfig(dir, { ...base, model: { path: join(dir, 'no-such-model') } }), '--out', join(dir, 'run2'), '--follow', '0.2'], { env })
    assert.equal(failing.code, 1)
    assert.match(failing.stderr, /verl exited with status 1 after step 0: see .*run2\/verl\/verl\.log; `medrl train --resume .*run2` continues/)
  })

  it('on a Ray cluster: run.sh submits a job under a submission id; stopping medrl stops the job; a job a hard-killed medrl left running is stopped before the resume', async () => {
    const dir = tempDir('medrl-ray-')
    assert.equal(runCli(['synth', '--out', join(dir, 'world')]).code, 0)
    const port = await freePort()
    const cfg = writeConfig(dir, { engine: 'verl', total_steps: 3, model: { path: DEMO_BASE }, data: { files: [join(dir, 'world', 'train.jsonl')], template: 'r1-text', chat: false, reward: 'binary' }, rollout: { train_batch_size: 4, num_generations: 2, max_new_tokens: 16 }, trainer: { save_steps: 1 }, verl: { n_gpus_per_node: 2, reward_url: `http://127.0.0.1:${port}`, ray_address: 'http://127.0.0.1:8265' } })
    const env = standinEnv({ MEDRL_STANDIN_STEP_SECONDS: '1.5', RAY_STANDIN_STATE: join(dir, 'ray-jobs') })
    const start = (args: string[]) => spawn(process.execPath, [join(ROOT, 'bin', 'medrl.js'), ...args], { env, stdio: 'ignore' })
    const atCheckpoint = (run: string, child: ReturnType<typeof spawn>, signal: NodeJS.Signals) =>
      new Promise<number | null>((resolve) => {
        const tracker = join(run, 'verl', 'checkpoints', 'latest_checkpointed_iteration.txt')
        const t = setInterval(() => existsSync(tracker) && readFileSync(tracker, 'utf8') === '1' && (clearInterval(t), child.kill(signal)), 50)
        child.on('exit', (code) => resolve(code))
      })
    // Stopped (SIGTERM): the job on the cluster is stopped with it.
    const run = join(dir, 'run')
    assert.equal(await atCheckpoint(run, start(['train', '--config', cfg, '--out', run, '--follow', '0.3']), 'SIGTERM'), 143)
    const jobs = readdirSync(join(dir, 'ray-jobs'))
    assert.equal(jobs.length, 1)
    assert.match(jobs[0]!, /^medrl-run-\w+\.json$/, 'submitted under medrl’s submission id')
    assert.equal((JSON.parse(readFileSync(join(dir, 'ray-jobs', jobs[0]!), 'utf8')) as { status: string }).status, 'STOPPED', 'ray job stop ran')
    assert.ok(!existsSync(join(run, 'verl', 'ray-job.json')), 'a job medrl stopped is forgotten')
    await new Promise((r) => setTimeout(r, 300))
    assert.deepEqual(processesMentioning(run), [])
    const resumed = runCli(['train', '--resume', run, '--follow', '0.3'], { env })
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.match(readFileSync(join(run, 'verl', 'verl.log'), 'utf8'), /Resuming from \S+global_step_1, setting global step to 1/)
    assert.ok(!existsSync(join(run, 'verl', 'ray-job.json')), 'a job that ended is forgotten')
    // Killed hard (SIGKILL): the job runs on without medrl; the resume stops it first.
    const run2 = join(dir, 'run2')
    assert.equal(await atCheckpoint(run2, start(['train', '--config', cfg, '--out', run2, '--follow', '0.3']), 'SIGKILL'), null)
    assert.ok(processesMentioning(run2).length > 0, 'the job outlives a hard-killed medrl, as on a cluster')
    const again = runCli(['train', '--resume', run2, '--follow', '0.3'], { env })
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stderr, /stopping the Ray job an earlier medrl left on the cluster \(medrl-run2-\w+\), if it still runs/)
    await new Promise((r) => setTimeout(r, 300))
    assert.deepEqual(processesMentioning(run2), [])
    const steps = readFileSync(join(run2, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step)
    assert.deepEqual(steps, [1, 2, 3])
  })

  it('a verl left running by a medrl that was killed hard is found, and a second one is refused', async () => {
    const dir = tempDir('medrl-stale-')
    const verlDir = join(dir, 'run', 'verl')
    mkdirSync(verlDir, { recursive: true })
    // A process group standing in for the orphaned verl, recorded as the launcher records it.
    const orphan = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' })
    const ticks = Number(readFileSync(`/proc/${orphan.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19])
    writeFileSync(join(verlDir, 'verl.pid'), JSON.stringify({ pgid: orphan.pid, start_ticks: ticks, command: 'bash run.sh', started: 'earlier' }))
    writeFileSync(join(verlDir, 'run.sh'), 'exit 0\n')
    const { ProcessGroup } = await import('../../src/util/process-group.js')
    assert.throws(() => ProcessGroup.start('verl', 'bash', [join(verlDir, 'run.sh')], { logFile: join(verlDir, 'verl.log'), pidFile: join(verlDir, 'verl.pid') }), new RegExp(`an earlier verl in this run \\(process group ${orphan.pid}, started earlier\\) is still running; .*kill -- -${orphan.pid}`))
    process.kill(-orphan.pid!, 'SIGKILL')
    await new Promise((r) => orphan.on('exit', r))
    const g = ProcessGroup.start('verl', 'bash', [join(verlDir, 'run.sh')], { logFile: join(verlDir, 'verl.log'), pidFile: join(verlDir, 'verl.pid') })
    assert.equal(await g.exited, 0, 'once it is gone, the run starts')
    assert.ok(!existsSync(join(verlDir, 'verl.pid')))
  })
})

describe('train --engine verl and verl export: one clear line when something is missing, nothing half-written', () => {
  it('verl not installed: says how to install it and that prepare works without it; no run directory is left', () => {
    const dir = tempDir('medrl-noverl-')
    const run = join(dir, 'run')
    const r = runCli(['train', '--config', join(ROOT, 'examples', 'verl', 'alphamed-grpo-llama8b.yaml'), '--set', `data.files=[${MEDQA}]`, '--out', run], { env: { MEDRL_PYTHON: PY } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /train --engine verl needs verl 0\.9\.0 and Ray in \/usr\/bin\/python3 .*pip install verl==0\.9\.1.*`medrl verl prepare` writes the same run without them/)
    assert.equal(r.stderr.trim().split('\n').length, 1)
    assert.ok(!existsSync(run))
  })

  it('export: a missing and a half-written checkpoint are named', () => {
    const dir = tempDir('medrl-export-')
    let r = runCli(['verl', 'export', dir, '--out', join(dir, 'hf')])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /no verl checkpoints/)
    const actor = join(dir, 'verl', 'checkpoints', 'global_step_5', 'actor')
    mkdirSync(join(actor, 'huggingface'), { recursive: true })
    writeFileSync(join(dir, 'verl', 'checkpoints', 'latest_checkpointed_iteration.txt'), '5')
    writeFileSync(join(actor, 'model_world_size_2_rank_0.pt'), 'x')
    r = runCli(['verl', 'export', dir, '--out', join(dir, 'hf')])
    assert.match(r.stderr, /half-written checkpoint: no huggingface\/config\.json/)
    writeFileSync(join(actor, 'huggingface', 'config.json'), '{}')
    r = runCli(['verl', 'export', dir, '--out', join(dir, 'hf')])
    assert.match(r.stderr, /half-written checkpoint: model_world_size_2_rank_1\.pt is missing or empty \(2 ranks expected\)/)
    r = runCli(['verl', 'export', dir, '--step', '9', '--out', join(dir, 'hf')])
    assert.match(r.stderr, /global_step_9: no such checkpoint \(steps here: global_step_5\)/)
    assert.ok(!existsSync(join(dir, 'hf')))
  })
})

describe('LoRA on verl (stand-in)', { skip: standinMissing() }, () => {
  it('actor.lora becomes verl’s lora_rank, lora_alpha and target_modules; verl export merges the adapter verl’s merger leaves apart, and keeps it in PEFT’s layout', async () => {
    const dir = tempDir('medrl-verl-lora-')
    assert.equal(runCli(['synth', '--out', join(dir, 'world')]).code, 0)
    const port = await freePort()
    const cfg = writeConfig(dir, { engine: 'verl', total_steps: 2, model: { path: DEMO_BASE }, data: { files: [join(dir, 'world', 'train.jsonl')], template: 'r1-text', chat: false, reward: 'binary' }, rollout: { train_batch_size: 4, num_generations: 2, max_new_tokens: 16 }, actor: { lora: { rank: 8, alpha: 16, target_modules: ['q_proj', 'v_proj'] } }, trainer: { save_steps: 1 }, verl: { n_gpus_per_node: 2, reward_url: `http://127.0.0.1:${port}` } })
    const env = standinEnv()
    const run = join(dir, 'run')
    const r = runCli(['train', '--config', cfg, '--out', run, '--follow', '0.3'], { env })
    assert.equal(r.code, 0, r.stderr)
    const overrides = readFileSync(join(run, 'verl', 'overrides.txt'), 'utf8').split('\n')
    for (const o of ['actor_rollout_ref.model.lora_rank=8', 'actor_rollout_ref.model.lora_alpha=16', 'actor_rollout_ref.model.target_modules=[q_proj,v_proj]']) assert.ok(overrides.includes(o), o)
    const actor = join(run, 'verl', 'checkpoints', 'global_step_2', 'actor')
    assert.deepEqual(JSON.parse(readFileSync(join(actor, 'lora_train_meta.json'), 'utf8')), { r: 8, lora_alpha: 16, task_type: 'CAUSAL_LM' })
    const out = join(dir, 'hf')
    const ex = runCli(['verl', 'export', run, '--out', out], { env })
    assert.equal(ex.code, 0, ex.stderr)
    assert.match(ex.stderr, /merged verl's LoRA adapter into the base weights/)
    const adapterCfg = JSON.parse(readFileSync(join(out, 'lora_adapter', 'adapter_config.json'), 'utf8'))
    assert.equal(adapterCfg.r, 8)
    assert.equal(adapterCfg.lora_alpha, 16)
    assert.deepEqual(adapterCfg.target_modules, ['q_proj', 'v_proj'])
    const { readAdapter } = await import('../../src/model/lora.js')
    const a = readAdapter(join(out, 'lora_adapter'))
    assert.deepEqual(a.weights['model.layers.0.self_attn.q_proj.lora_A.weight']!.shape, [8, 128])
    assert.deepEqual(a.weights['model.layers.3.self_attn.v_proj.lora_B.weight']!.shape, [64, 8])
    const info = runCli(['model', 'info', out, '--json'])
    assert.equal(info.code, 0, info.stderr)
    assert.deepEqual(JSON.parse(info.stdout).dtypes, { BF16: 39 })
    // The adapter kept in PEFT's layout loads on the exported base too.
    const back = runCli(['model', 'merge', join(out, 'lora_adapter'), '--base', out, '--out', join(dir, 'again')])
    assert.equal(back.code, 0, back.stderr)
  })
})
