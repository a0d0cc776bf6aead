import { existsSync, readdirSync, statSync } from 'node:fs'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { basename, join } from 'node:path'
import { renderVegaLite } from './charts.js'
import { readRun } from './run-data.js'
import { DYNAMICS, metricSpec, stagesSpec } from './specs.js'

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>medrl dashboard</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
#runs li{cursor:pointer;margin:.2rem 0}#runs li.active{font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:.75rem}.charts img{border:1px solid #eee;max-width:560px}
.problem{color:#a00}table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ddd;padding:.2rem .4rem;vertical-align:top}
td.c{white-space:pre-wrap;max-width:40rem}
</style></head><body>
<h1>medrl dashboard</h1>
<ul id="runs"></ul>
<h2 id="title"></h2>
<p>Step <span id="step">–</span> <span id="status"></span></p>
<p id="problems" class="problem"></p>
<div class="charts" id="charts"></div>
<h3>Latest completions</h3>
<table><thead><tr><th>step</th><th>id</th><th>answer</th><th>extracted</th><th>reward</th><th>stage</th><th>completion</th></tr></thead><tbody id="samples"></tbody></table>
<script>
const metrics = ${JSON.stringify(DYNAMICS.map(([m]) => m))}
let current = null
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]))
async function loadRuns() {
  const runs = await (await fetch('/api/runs')).json()
  const ul = document.getElementById('runs')
  ul.innerHTML = runs.map((r) => '<li data-run="' + esc(r.name) + '">' + esc(r.name) + ' — ' + (r.exists ? r.steps + ' steps' : 'missing') + '</li>').join('')
  for (const li of ul.querySelectorAll('li')) li.onclick = () => show(li.dataset.run)
  if (!current && runs.length) show(runs[0].name)
}
async function show(name) {
  current = name
  for (const li of document.querySelectorAll('#runs li')) li.classList.toggle('active', li.dataset.run === name)
  document.getElementById('title').textContent = name
  await refresh()
}
async function refresh() {
  if (!current) return
  const r = await fetch('/api/runs/' + encodeURIComponent(current) + '/metrics')
  if (!r.ok) { document.getElementById('status').textContent = '(missing)'; return }
  const m = await r.json()
  const last = m.metrics.length ? m.metrics[m.metrics.length - 1].step : 0
  document.getElementById('step').textContent = String(last)
  document.getElementById('status').textContent = m.exists ? '' : '(missing)'
  document.getElementById('problems').textContent = m.badLines.length ? m.badLines.length + ' unreadable line(s) in metrics.jsonl: ' + m.badLines.map((b) => 'line ' + b.line).join(', ') : ''
  const present = metrics.filter((k) => m.metrics.some((x) => typeof x.data[k] === 'number'))
  const charts = document.getElementById('charts')
  charts.innerHTML = present.map((k) => '<img alt="' + esc(k) + '" data-metric="' + esc(k) + '" src="/api/runs/' + encodeURIComponent(current) + '/chart/' + encodeURIComponent(k) + '.svg?v=' + last + '">').join('')
  const s = await (await fetch('/api/runs/' + encodeURIComponent(current) + '/samples')).json()
  document.getElementById('samples').innerHTML = s.map((x) => '<tr><td>' + esc(x.step) + '</td><td>' + esc(x.id) + '</td><td>' + esc(x.answer) + '</td><td>' + esc(x.extracted) + '</td><td>' + esc(x.reward) + '</td><td>' + esc(x.stage) + '</td><td class="c">' + esc(x.completion) + '</td></tr>').join('')
}
const ev = new EventSource('/api/events')
ev.onmessage = (e) => { const d = JSON.parse(e.data); loadRuns(); if (d.run === current) refresh() }
loadRuns()
</script></body></html>`

export interface DashboardOptions {
  /** Run directories to show. */
  runs?: string[]
  /** A directory whose subdirectories with a metrics.jsonl are runs (re-scanned while serving). */
  runsDir?: string
  /** How often run files are checked for changes. */
  pollMs?: number
}

/**
 * The live dashboard: a page listing runs, their charts (rendered on the server as SVG) and latest
 * completions, updated through server-sent events whenever a run's metrics grow. Bad or half-written
 * metrics files and missing runs are shown as such; no input can crash the server.
 */
export class Dashboard {
  readonly server: Server
  private readonly clients = new Set<ServerResponse>()
  private readonly sizes = new Map<string, number>()
  private timer: NodeJS.Timeout | null = null

  constructor(private readonly o: DashboardOptions) {
    this.server = createServer((req, res) => {
      this.route(req.url ?? '/', res).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: (e as Error).message }))
      })
    })
  }

  runDirs(): string[] {
    const dirs = [...(this.o.runs ?? [])]
    if (this.o.runsDir && existsSync(this.o.runsDir)) {
      for (const d of readdirSync(this.o.runsDir).sort()) {
        const p = join(this.o.runsDir, d)
        if (existsSync(join(p, 'metrics.jsonl')) && !dirs.includes(p)) dirs.push(p)
      }
    }
    return dirs
  }

  private find(name: string): string | undefined {
    return this.runDirs().find((d) => basename(d.replace(/\/+$/, '')) === name)
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify(body))
  }

  private async route(url: string, res: ServerResponse): Promise<void> {
    const u = new URL(url, 'http://x')
    let parts: string[]
    try {
      parts = u.pathname.split('/').filter(Boolean).map(decodeURIComponent)
    } catch {
      return this.json(res, 400, { error: `malformed %-escape in ${u.pathname}` })
    }
    if (parts.length === 0) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(PAGE)
      return
    }
    if (parts[0] !== 'api') return this.json(res, 404, { error: `no page ${u.pathname}` })
    if (parts[1] === 'events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
      res.write(': connected\n\n')
      this.clients.add(res)
      res.on('close', () => this.clients.delete(res))
      return
    }
    if (parts[1] === 'runs' && parts.length === 2) {
      return this.json(
        res,
        200,
        this.runDirs().map((d) => {
          const r = readRun(d)
          return { name: r.name, exists: r.exists, steps: r.metrics.length, lastStep: r.metrics.at(-1)?.step ?? null, badLines: r.badLines.length }
        }),
      )
    }
    if (parts[1] === 'runs' && parts[2]) {
      const dir = this.find(parts[2])
      if (!dir) return this.json(res, 404, { error: `no run named ${parts[2]}` })
      const run = readRun(dir)
      if (parts[3] === 'metrics') return this.json(res, 200, { name: run.name, exists: run.exists, metrics: run.metrics, badLines: run.badLines })
      if (parts[3] === 'samples') return this.json(res, 200, run.samples.slice(-20).reverse())
      if (parts[3] === 'chart' && parts[4]?.endsWith('.svg')) {
        const metric = parts[4].slice(0, -4)
        const spec = metric === 'stages' ? stagesSpec(run) : metricSpec([run], metric, DYNAMICS.find(([m]) => m === metric)?.[1] ?? metric)
        const chart = await renderVegaLite(spec, 1)
        res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'no-store' })
        res.end(chart.svg)
        return
      }
    }
    return this.json(res, 404, { error: `no route ${u.pathname}` })
  }

  /** Checks run files and tells connected pages about the ones that changed. */
  private poll(): void {
    for (const d of this.runDirs()) {
      let size = -1
      try {
        size = statSync(join(d, 'metrics.jsonl')).size
      } catch {
        size = -1
      }
      const name = basename(d.replace(/\/+$/, ''))
      if (this.sizes.get(d) !== size) {
        const first = !this.sizes.has(d)
        this.sizes.set(d, size)
        if (!first) for (const c of this.clients) c.write(`data: ${JSON.stringify({ run: name, size })}\n\n`)
      }
    }
  }

  /** Binds, then starts watching the runs (a bind that fails leaves no timer running, so the process can exit). */
  async listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    const addr = await new Promise<AddressInfo>((resolve, reject) => {
      this.server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`dashboard: cannot listen on ${host}:${port}: ${e.code === 'EADDRINUSE' ? 'the port is in use (give another --port, or 0 for any)' : e.message}`)))
      this.server.listen(port, host, () => resolve(this.server.address() as AddressInfo))
    })
    this.poll()
    this.timer = setInterval(() => this.poll(), this.o.pollMs ?? 500)
    return addr
  }

  close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    for (const c of this.clients) c.end()
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections?.()
    })
  }
}
