import assert from 'node:assert/strict'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { EmbeddedBackend } from '../../src/backends/embedded.js'
import { OpenAIBackend } from '../../src/backends/openai.js'
import { BackendError, type BackendRequest } from '../../src/backends/types.js'
import { OpenAIServer } from '../../src/serve/server.js'
import { makeTinyModel } from '../model-helpers.js'

let embedded: EmbeddedBackend
let server: OpenAIServer
let upstream: string

type Fault = 'drop' | '500' | '429' | 'stall' | '400' | 'ok'

/** A loopback proxy that answers each incoming request with the next fault of a schedule, else forwards it. */
function faultProxy(schedule: Fault[]): Promise<{ url: string; server: Server; log: { fault: Fault; body: string }[] }> {
  const log: { fault: Fault; body: string }[] = []
  const s = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString()
      const fault = schedule.shift() ?? 'ok'
      log.push({ fault, body })
      if (fault === 'drop') return req.socket.destroy()
      if (fault === 'stall') return // never answers: the client's timeout must fire
      if (fault === '500') return res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"overloaded"}}')
      if (fault === '429') return res.writeHead(429, { 'retry-after': '0' }).end('{"error":{"message":"slow down"}}')
      if (fault === '400') return res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad field foo"}}')
      const up = new URL(upstream)
      const p = httpRequest({ host: up.hostname, port: up.port, path: `/v1${req.url!.replace(/^\/v1/, '')}`, method: req.method, headers: { 'content-type': 'application/json' } }, (ur) => {
        res.writeHead(ur.statusCode!, ur.headers)
        ur.pipe(res)
      })
      p.end(body)
    })
  })
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/v1`, server: s, log })))
}

before(async () => {
  embedded = EmbeddedBackend.fromDir(makeTinyModel({ seed: 8 }))
  server = new OpenAIServer(embedded, { servedModelName: 'tiny' })
  upstream = `http://127.0.0.1:${(await server.listen(0)).port}/v1`
})
after(async () => {
  await server.close()
  await embedded.close()
})

const requests: BackendRequest[] = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? { prompt: `Question ${i}: the patient`, params: { maxNewTokens: 5, seed: i, n: 2 } } : { messages: [{ role: 'user', content: `Question ${i}?` }], params: { maxNewTokens: 5, seed: i } }))

describe("medrl's openai backend", () => {
  it('talks to medrl serve: completions and chat, in order, equal to the embedded engine for greedy decoding', async () => {
    const b = new OpenAIBackend({ baseUrl: upstream })
    const greedy = requests.map((r) => ({ ...r, params: { ...r.params, temperature: 0 } }))
    const viaHttp = await b.generate(greedy)
    const direct = await embedded.generate(greedy)
    assert.equal(b.model, 'tiny', 'the model name comes from GET /models')
    assert.deepEqual(viaHttp.map((s) => s.map((c) => c.text)), direct.map((s) => s.map((c) => c.text)))
    assert.deepEqual(viaHttp.map((s) => s.length), [2, 1, 2, 1, 2, 1, 2, 1])
  })

  it('survives dropped connections, 500s, 429s and a stall: nothing lost, nothing counted twice', async () => {
    const reference = await new OpenAIBackend({ baseUrl: upstream }).generate(requests)
    const proxy = await faultProxy(['drop', '500', '429', 'ok', 'stall', 'drop', '500', '500', '429'])
    try {
      const b = new OpenAIBackend({ baseUrl: proxy.url, model: 'tiny', concurrency: 3, timeoutMs: 1500, backoffMs: 10, maxRetries: 8 })
      let progress = 0
      const out = await b.generate(requests, { onProgress: (n) => (progress = n) })
      assert.equal(progress, requests.length)
      assert.deepEqual(out.map((s) => s.map((c) => c.text)), reference.map((s) => s.map((c) => c.text)), 'same results as without faults (seeded)')
      // Completions only (the backend also lists the model and counts prompt tokens with /tokenize).
      const forwarded = proxy.log.filter((l) => l.fault === 'ok' && l.body.includes('"max_tokens"')).map((l) => l.body)
      assert.equal(forwarded.length, requests.length, 'each request reached the server exactly once')
      assert.equal(new Set(forwarded).size, requests.length)
      assert.equal(b.attempts, proxy.log.length)
    } finally {
      proxy.server.closeAllConnections()
      proxy.server.close()
    }
  })

  it('a 4xx that cannot succeed is not retried and says why', async () => {
    const proxy = await faultProxy(['400'])
    try {
      const b = new OpenAIBackend({ baseUrl: proxy.url, model: 'tiny', backoffMs: 10 })
      await assert.rejects(b.generate([requests[0]!]), (e: unknown) => e instanceof BackendError && e.status === 400 && /HTTP 400: bad field foo/.test(e.message))
      assert.equal(proxy.log.length, 1)
    } finally {
      proxy.server.close()
    }
  })

  it('gives up after its retries with the last error', async () => {
    const proxy = await faultProxy(['500', '500', '500'])
    try {
      const b = new OpenAIBackend({ baseUrl: proxy.url, model: 'tiny', backoffMs: 1, maxRetries: 2 })
      await assert.rejects(b.generate([requests[0]!]), /HTTP 500: overloaded \(gave up after 3 attempts\)/)
    } finally {
      proxy.server.close()
    }
  })

  it('several endpoints: requests spread over them; a server that dies mid-run has its requests retried on the others; results as from one server', async () => {
    const greedy: BackendRequest[] = Array.from({ length: 24 }, (_, i) => ({ prompt: `Case ${i}: the patient`, params: { maxNewTokens: 4, seed: i, temperature: 0 } }))
    const one = await new OpenAIBackend({ baseUrl: upstream }).generate(greedy)
    const a = await faultProxy([])
    const b = await faultProxy([])
    // The third server answers its first three requests (/models and two completions), then drops every connection.
    const c = await faultProxy(['ok', 'ok', 'ok', ...new Array<Fault>(200).fill('drop')])
    try {
      const spread = new OpenAIBackend({ baseUrl: `${a.url}, ${b.url}`, concurrency: 4, backoffMs: 5 })
      assert.deepEqual((await spread.generate(greedy)).map((x) => x.map((y) => y.text)), one.map((x) => x.map((y) => y.text)))
      const completions = (p: { log: { body: string }[] }) => p.log.filter((l) => l.body.includes('"max_tokens"')).length
      assert.equal(completions(a) + completions(b), 24, 'each request answered once')
      assert.ok(completions(a) >= 6 && completions(b) >= 6, `spread: ${completions(a)} / ${completions(b)}`)
      assert.equal(spread.identity(), 'openai servers tiny')
      const survivors = new OpenAIBackend({ baseUrl: `${a.url},${b.url},${c.url}`, concurrency: 6, backoffMs: 5 })
      const before = completions(a) + completions(b)
      assert.deepEqual((await survivors.generate(greedy)).map((x) => x.map((y) => y.text)), one.map((x) => x.map((y) => y.text)))
      const answeredByC = c.log.filter((l) => l.fault === 'ok' && l.body.includes('"max_tokens"')).length
      assert.ok(c.log.some((l) => l.fault === 'drop'), 'the third server died mid-run')
      assert.equal(completions(a) + completions(b) - before + answeredByC, 24, 'every request answered exactly once, the dead server’s retried on the others')
      assert.throws(() => new OpenAIBackend({ baseUrl: `${a.url},${a.url}` }), /lists a server twice/)
    } finally {
      for (const p of [a, b, c]) p.server.close()
    }
  })
})
