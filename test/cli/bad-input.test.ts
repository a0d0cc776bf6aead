import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { EmbeddedBackend } from '../../src/backends/embedded.js'
import { OpenAIServer } from '../../src/serve/server.js'
import { ROOT, dataFile, runCli, tempDir } from '../helpers.js'
import { makeTinyModel } from '../model-helpers.js'

describe('bad input gets one clear line', () => {
  it('invalid UTF-8 in an input is named by file and line, not silently replaced', () => {
    const dir = tempDir()
    const lines = readFileSync(dataFile('medqa/medqa_test.jsonl'), 'utf8').split('\n').slice(0, 3)
    const bad = Buffer.concat([Buffer.from(`${lines[0]}\n${lines[1]}\n`), Buffer.from(lines[2]!.slice(0, 40)), Buffer.from([0xff, 0xfe]), Buffer.from(`${lines[2]!.slice(40)}\n`)])
    const file = join(dir, 'bad.jsonl')
    writeFileSync(file, bad)
    const r = runCli(['data', 'import', file, '--out', join(dir, 'out.jsonl')])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /bad\.jsonl:3: field "\(file\)": not valid UTF-8/)
  })

  it('counts and rates outside their range are refused, naming the option', () => {
    const cases: [string[], RegExp][] = [
      [['eval', '--model', 'm', '--limit', '-3', '--out', 'o'], /--limit must be at least 1, got -3/],
      [['eval', '--model', 'm', '--limit', '0', '--out', 'o'], /--limit must be at least 1, got 0/],
      [['generate', '--model', 'm', '--data', 'd', '-n', '0', '--out', 'o'], /-n must be at least 1, got 0/],
      [['generate', '--model', 'm', '--data', 'd', '--temperature', '-1', '--out', 'o'], /--temperature must be at least 0, got -1/],
      [['difficulty', '--model', 'm', '--data', 'd', '-k', '0', '--out', 'o'], /-k must be at least 1, got 0/],
      [['data', 'decontaminate', '--train', 'a', '--eval', 'b', '--ngram', '0'], /--ngram must be at least 1, got 0/],
    ]
    for (const [args, re] of cases) {
      const r = runCli(args)
      assert.equal(r.code, 1, args.join(' '))
      assert.match(r.stderr, re)
    }
  })

  it('model logits --text "" says the text gives no tokens', () => {
    const dir = makeTinyModel({ arch: 'qwen2' })
    const r = runCli(['model', 'logits', '--model', dir, '--text', ''])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /--text "" gives no tokens/)
    assert.doesNotMatch(r.stderr, /reshape|Reshape/)
  })
})

describe('medrl serve beyond loopback', () => {
  it('--api-key guards /v1 as vLLM does; a non-loopback --host is warned about', async () => {
    const dir = makeTinyModel({ seed: 3 })
    const backend = EmbeddedBackend.fromDir(dir)
    const server = new OpenAIServer(backend, { apiKey: 'sesame' })
    const url = `http://127.0.0.1:${(await server.listen(0)).port}`
    try {
      const body = JSON.stringify({ prompt: 'Hello', max_tokens: 2 })
      const none = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      assert.equal(none.status, 401)
      assert.match(((await none.json()) as { error: { message: string } }).error.message, /API key/)
      const ok = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sesame' }, body })
      assert.equal(ok.status, 200)
      assert.equal((await fetch(`${url}/health`)).status, 200, 'health stays open')
    } finally {
      await server.close()
      await backend.close()
    }
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'medrl.js'), 'serve', '--model', dir, '--host', '0.0.0.0', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const warned = await new Promise<string>((resolve) => {
      let err = ''
      child.stderr.on('data', (b: Buffer) => {
        err += b.toString()
        if (err.includes('\n')) resolve(err)
      })
    })
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    assert.match(warned, /warning: --host 0\.0\.0\.0 serves the model to every machine that can reach this one, with no API key \(give --api-key\)/)
  })
})
