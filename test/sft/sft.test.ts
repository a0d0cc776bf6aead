import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { writeRecords } from '../../src/data/jsonl.js'
import { makeQuestions } from '../../src/synth/questions.js'
import { makeWorld } from '../../src/synth/world.js'
import { readWeights } from '../../src/model/safetensors.js'
import { ROOT, runCli, tempDir } from '../helpers.js'

const BASE = join(ROOT, 'assets', 'demo-base')

/** The testbed's questions (the committed base knows its world): training diseases for training, held-out diseases for the loss. */
function testbedFiles(dir: string): { train: string; val: string } {
  const { train, test } = makeQuestions(makeWorld(0), 0)
  writeRecords(join(dir, 'train.jsonl'), train)
  writeRecords(join(dir, 'val.jsonl'), test)
  return { train: join(dir, 'train.jsonl'), val: join(dir, 'val.jsonl') }
}

function config(dir: string, steps: number): string {
  const f = testbedFiles(dir)
  const path = join(dir, 'sft.yaml')
  writeFileSync(path, `total_steps: ${steps}
seed: 3
model: { path: ${BASE} }
data: { files: [${f.train}], val_files: [${f.val}], template: r1-text, shuffle_options: true }
optim: { learning_rate: 3.0e-4, train_batch_size: 16, micro_batch_size: 8, warmup_steps: 2 }
trainer: { save_steps: 2, eval_steps: 2, save_total_limit: 3 }
`)
  return path
}

const metrics = (run: string) =>
  readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; data: Record<string, number> })
const stable = (rows: ReturnType<typeof metrics>) => rows.map((r) => ({ step: r.step, ...Object.fromEntries(Object.entries(r.data).filter(([k]) => !k.startsWith('time/') && !k.startsWith('perf/'))) }))


/** Runs the CLI and SIGKILLs it once its step-4 checkpoint exists (a run cut off mid-way). */
function killAtCheckpoint(args: string[], out: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'medrl.js'), ...args], { stdio: 'ignore' })
    const timer = setInterval(() => {
      if (existsSync(join(out, 'checkpoints', 'step-000004', 'trainer_state.json'))) child.kill('SIGKILL')
    }, 50)
    child.on('exit', (_code, signal) => {
      clearInterval(timer)
      signal === 'SIGKILL' ? resolve() : reject(new Error('the run ended before it could be killed'))
    })
  })
}

describe('medrl sft', () => {
  it('lowers the held-out loss, and a run killed mid-way resumes to the same metrics and weights as one left alone', async () => {
    const dir = tempDir('medrl-sft-')
    const cfg = config(dir, 8)
    const whole = join(dir, 'whole')
    const r = runCli(['sft', '--config', cfg, '--out', whole])
    assert.equal(r.code, 0, r.stderr)
    const m = metrics(whole)
    assert.deepEqual(m.map((x) => x.step), [1, 2, 3, 4, 5, 6, 7, 8])
    const val = m.filter((x) => x.data['val/loss'] !== undefined).map((x) => x.data['val/loss']!)
    assert.equal(val.length, 4)
    assert.ok(val.at(-1)! < val[0]! * 0.8, `held-out loss ${val.join(' → ')}`)
    assert.ok(m.at(-1)!.data['train/token_accuracy']! > m[0]!.data['train/token_accuracy']!)
    for (const k of ['train/loss', 'train/token_accuracy', 'train/lr', 'train/grad_norm', 'perf/tokens_per_s']) assert.ok(Number.isFinite(m[3]!.data[k]), k)
    assert.ok(existsSync(join(whole, 'checkpoints', 'step-000008', 'model.safetensors')))

    // The same run, SIGKILLed once its step-4 checkpoint exists, then resumed.
    const cut = join(dir, 'cut')
    await killAtCheckpoint(['sft', '--config', cfg, '--out', cut], cut)
    const resumed = runCli(['sft', '--resume', cut])
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.match(resumed.stderr, /resuming at step \d from/)
    assert.deepEqual(stable(metrics(cut)), stable(m))
    const a = readWeights(join(whole, 'checkpoints', 'step-000008')).weights
    const b = readWeights(join(cut, 'checkpoints', 'step-000008')).weights
    for (const n of Object.keys(a)) assert.deepEqual(b[n]!.data, a[n]!.data, n)
  })

  it('--help-config lists the options; a bad config is named with its field; a used run directory is refused', () => {
    const help = runCli(['sft', '--help-config'])
    assert.equal(help.code, 0)
    for (const k of ['optim.learning_rate', 'optim.micro_batch_size', 'data.target', 'data.shuffle_options', 'trainer.eval_steps']) assert.match(help.stdout, new RegExp(k.replace('.', '\\.')))
    const dir = tempDir('medrl-sft-bad-')
    const cfg = config(dir, 2)
    const bad = runCli(['sft', '--config', cfg, '--out', join(dir, 'x'), '--set', 'optim.micro_batch_size=5'])
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /optim\.micro_batch_size 5 must divide optim\.train_batch_size 16/)
    const wrong = runCli(['sft', '--config', cfg, '--out', join(dir, 'x'), '--set', 'data.target=essay'])
    assert.match(wrong.stderr, /sft\.yaml: data\.target: /)
    writeFileSync(join(dir, 'used.txt'), 'x')
    const used = runCli(['sft', '--config', cfg, '--out', dir])
    assert.match(used.stderr, /already holds a run/)
  })
})

describe('medrl sft with LoRA', () => {
  it('trains adapters alone (optimizer state for them only), checkpoints PEFT adapters, lowers the held-out loss, and a run killed mid-way resumes to the same metrics and adapters', async () => {
    const dir = tempDir('medrl-sft-lora-')
    const cfg = config(dir, 6)
    const lora = ['--set', 'model.lora.rank=8', '--set', 'model.lora.alpha=16', '--set', 'optim.learning_rate=3.0e-3']
    const whole = join(dir, 'whole')
    const r = runCli(['sft', '--config', cfg, '--out', whole, ...lora])
    assert.equal(r.code, 0, r.stderr)
    const m = metrics(whole)
    const val = m.filter((x) => x.data['val/loss'] !== undefined).map((x) => x.data['val/loss']!)
    assert.ok(val.at(-1)! < val[0]!, `held-out loss ${val.join(' → ')}`)
    const ck = join(whole, 'checkpoints', 'step-000006')
    assert.ok(existsSync(join(ck, 'adapter_config.json')) && existsSync(join(ck, 'adapter_model.safetensors')) && !existsSync(join(ck, 'model.safetensors')), 'an adapter, not a model')
    const { SafetensorsFile } = await import('../../src/model/safetensors.js')
    const st = new SafetensorsFile(join(ck, 'optimizer.safetensors'))
    const names = st.names()
    st.close()
    assert.ok(names.length > 0 && names.every((n) => /\.lora_[AB]\.weight/.test(n)), `optimizer buffers: ${names.slice(0, 3).join(', ')}`)
    // Evaluating the adapter directory merges it on its base.
    const ev = runCli(['eval', '--model', ck, '--benchmarks', `heldout=${join(dir, 'val.jsonl')}`, '--template', 'r1-text', '--max-new-tokens', '16', '--limit', '8', '--out', join(dir, 'eval')])
    assert.equal(ev.code, 0, ev.stderr)

    const cut = join(dir, 'cut')
    await killAtCheckpoint(['sft', '--config', cfg, '--out', cut, ...lora], cut)
    const resumed = runCli(['sft', '--resume', cut])
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.deepEqual(stable(metrics(cut)), stable(m))
    const { readAdapter } = await import('../../src/model/lora.js')
    const a = readAdapter(ck).weights
    const b = readAdapter(join(cut, 'checkpoints', 'step-000006')).weights
    for (const n of Object.keys(a)) assert.deepEqual(b[n]!.data, a[n]!.data, n)
  })
})
