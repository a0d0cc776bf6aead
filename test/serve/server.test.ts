import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { after, before, describe, it } from 'node:test'
import OpenAI from 'openai'
import { EmbeddedBackend } from '../../src/backends/embedded.js'
import { OpenAIServer } from '../../src/serve/server.js'
import { makeTinyModel } from '../model-helpers.js'

let backend: EmbeddedBackend
let server: OpenAIServer
let base: string
let client: OpenAI

before(async () => {
  backend = EmbeddedBackend.fromDir(makeTinyModel({ seed: 5 }))
  server = new OpenAIServer(backend, { servedModelName: 'tiny', maxBodyBytes: 4096 })
  const addr = await server.listen(0)
  assert.equal(addr.address, '127.0.0.1', 'binds to loopback by default')
  base = `http://127.0.0.1:${addr.port}/v1`
  client = new OpenAI({ baseURL: base, apiKey: 'unused', maxRetries: 0 })
})
after(async () => {
  await server.close()
  await backend.close()
})

describe('medrl serve with the official openai client', () => {
  it('lists the model', async () => {
    const models = await client.models.list()
    assert.deepEqual(models.data.map((m) => m.id), ['tiny'])
  })

  it('completions: n > 1, seed, logprobs, usage', async () => {
    const r = await client.completions.create({ model: 'tiny', prompt: 'The patient presents with', max_tokens: 6, n: 3, seed: 11, logprobs: 1 })
    assert.equal(r.object, 'text_completion')
    assert.equal(r.choices.length, 3)
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2])
    for (const c of r.choices) {
      assert.equal(c.finish_reason, 'length')
      assert.equal(c.logprobs!.token_logprobs!.length, 6)
      assert.ok(c.logprobs!.token_logprobs!.every((x) => x !== null && x <= 0))
    }
    assert.equal(r.usage!.completion_tokens, 18)
    const again = await client.completions.create({ model: 'tiny', prompt: 'The patient presents with', max_tokens: 6, n: 3, seed: 11 })
    assert.deepEqual(again.choices.map((c) => c.text), r.choices.map((c) => c.text), 'same seed, same text')
  })

  it('completions with several prompts: choices indexed prompt × n', async () => {
    const r = await client.completions.create({ model: 'tiny', prompt: ['Fever', 'Rash and joint pain'], max_tokens: 3, n: 2, temperature: 0 })
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3])
    assert.equal(r.choices[0]!.text, r.choices[1]!.text, 'greedy samples agree')
  })

  it('chat completions through the chat template, and the same text streamed', async () => {
    const messages = [{ role: 'system' as const, content: 'Answer briefly.' }, { role: 'user' as const, content: 'What causes scurvy?' }]
    const r = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 10, temperature: 0, logprobs: true })
    assert.equal(r.object, 'chat.completion')
    assert.equal(r.choices[0]!.message.role, 'assistant')
    assert.equal(r.choices[0]!.logprobs!.content!.length, r.usage!.completion_tokens)
    const stream = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 10, temperature: 0, stream: true })
    let text = ''
    let finish: string | null = null
    let chunks = 0
    for await (const c of stream) {
      chunks++
      text += c.choices[0]?.delta?.content ?? ''
      finish = c.choices[0]?.finish_reason ?? finish
    }
    assert.ok(chunks > 3)
    assert.equal(text, r.choices[0]!.message.content)
    assert.equal(finish, r.choices[0]!.finish_reason)
  })

  it('streamed completions with n > 1 and stop strings match the non-streamed ones', async () => {
    const req = { model: 'tiny', prompt: 'Diagnosis:', max_tokens: 12, n: 2, seed: 3 }
    const full = await client.completions.create(req)
    const stop = full.choices[0]!.text.slice(3, 5)
    const withStop = await client.completions.create({ ...req, stop: [stop] })
    const stream = await client.completions.create({ ...req, stop: [stop], stream: true })
    const texts = ['', '']
    for await (const c of stream) for (const ch of c.choices) texts[ch.index] += ch.text
    assert.deepEqual(texts, withStop.choices.map((c) => c.text))
    assert.equal(withStop.choices[0]!.finish_reason, 'stop')
    assert.ok(!withStop.choices[0]!.text.includes(stop))
  })

  it('concurrent requests are batched together', async () => {
    const before = server.batcher.batches
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => client.completions.create({ model: 'tiny', prompt: `Case ${i}`, max_tokens: 4, seed: i })))
    assert.equal(rs.length, 6)
    assert.ok(server.batcher.batches - before < 6, `${server.batcher.batches - before} batches for 6 requests`)
  })
})

describe('medrl serve refuses bad input with OpenAI-style errors and keeps serving', () => {
  const post = (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => fetch(`${base}${path}`, { method: 'POST', body, headers })

  it('malformed JSON, wrong types, unknown model, unsupported options → 400/404 with an error body', async () => {
    const cases: [string, string, number, RegExp][] = [
      ['/completions', '{"prompt": "x", "max_tokens": ', 400, /not valid JSON/],
      ['/completions', '{"prompt": 5}', 400, /prompt/],
      ['/completions', '{"prompt": "x", "temperature": 9}', 400, /temperature/],
      ['/completions', '{"prompt": "x", "model": "gpt-9"}', 404, /model "gpt-9" is not served here/],
      ['/completions', '{"prompt": "x", "echo": true}', 400, /echo is not supported/],
      ['/completions', '{"prompt": [999999]}', 400, /outside the vocabulary/],
      ['/completions', '{"prompt": "x", "max_tokens": 100000}', 400, /exceeds the model's context/],
      ['/chat/completions', '{"messages": []}', 400, /messages/],
      ['/chat/completions', '{"messages": [{"role": "wizard", "content": "x"}]}', 400, /messages\.0\.role/],
      ['/chat/completions', '[1,2]', 400, /expected object/],
    ]
    for (const [path, body, status, msg] of cases) {
      const r = await post(path, body)
      assert.equal(r.status, status, `${path} ${body}`)
      const j = (await r.json()) as { error: { message: string; type: string } }
      assert.match(j.error.message, msg)
      assert.ok(['invalid_request_error', 'not_found_error'].includes(j.error.type))
    }
  })

  it('oversize bodies get 413; unknown routes 404; wrong methods 405', async () => {
    const big = await post('/completions', JSON.stringify({ prompt: 'x'.repeat(10_000) }))
    assert.equal(big.status, 413)
    assert.match(((await big.json()) as { error: { message: string } }).error.message, /larger than 4096 bytes/)
    assert.equal((await fetch(`${base}/nothing`)).status, 404)
    assert.equal((await fetch(`${base}/completions`)).status, 405)
  })

  it('still answers after all of that', async () => {
    const r = await client.completions.create({ model: 'tiny', prompt: 'ok', max_tokens: 2 })
    assert.equal(r.choices.length, 1)
  })
})

describe('medrl serve and clients that go away', () => {
  it('stops generating for a client that disconnects (streaming or not), and refuses a request larger than the work cap', async () => {
    const b = EmbeddedBackend.fromDir(makeTinyModel({ seed: 6, maxPositions: 1200 }))
    const s = new OpenAIServer(b, { servedModelName: 'tiny', maxBatchRows: 64 })
    const port = (await s.listen(0)).port
    const settle = async () => {
      // Generation has stopped once the token count holds still (bounded wait).
      let last = -1
      for (let i = 0; i < 100 && b.generator.tokensGenerated !== last; i++) {
        last = b.generator.tokensGenerated
        await new Promise((r) => setTimeout(r, 150))
      }
      return b.generator.tokensGenerated
    }
    try {
      // Left alone, 64 rows × up to 1,000 tokens of this random model run to about 10,000 tokens.
      const streamed = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path: '/v1/completions', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
          let chunks = 0
          res.on('data', (d: Buffer) => {
            chunks += (d.toString().match(/^data: /gm) ?? []).length
            if (chunks >= 64 * 5) {
              req.destroy()
              resolve(chunks)
            }
          })
        })
        req.on('error', () => {})
        req.on('close', () => resolve(-1))
        req.end(JSON.stringify({ prompt: 'The patient presents with', n: 64, max_tokens: 1000, stream: true }))
        setTimeout(() => reject(new Error('no stream')), 60_000)
      })
      assert.ok(streamed > 0, 'the stream started')
      const afterStream = await settle()
      assert.ok(afterStream < 3000, `generation stopped soon after the client left: ${afterStream} tokens`)
      // A non-streaming client that gives up.
      const ctl = new AbortController()
      const gone = fetch(`http://127.0.0.1:${port}/v1/completions`, { method: 'POST', signal: ctl.signal, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'A 45-year-old man', n: 64, max_tokens: 1000 }) }).catch(() => null)
      for (let i = 0; i < 600 && b.generator.tokensGenerated < afterStream + 300; i++) await new Promise((r) => setTimeout(r, 5))
      ctl.abort()
      await gone
      const afterPlain = await settle()
      assert.ok(afterPlain - afterStream < 3000, `stopped after the plain client left: ${afterPlain - afterStream} tokens`)
      // The next request is served at once by an idle engine.
      const ok = await fetch(`http://127.0.0.1:${port}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Hello', max_tokens: 4 }) })
      assert.equal(ok.status, 200)
      // 200 prompts × n 64 × 1,000 tokens is refused, with the cap named.
      const big = await fetch(`http://127.0.0.1:${port}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: Array.from({ length: 200 }, () => 'Hi'), n: 64, max_tokens: 1000 }) })
      assert.equal(big.status, 400)
      assert.match(((await big.json()) as { error: { message: string } }).error.message, /asks for up to 12800000 tokens \(200 prompts × n 64 × max_tokens 1000\); one request may ask for 262144/)
    } finally {
      await s.close()
      await b.close()
    }
  })
})
