import { mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { z } from 'zod'
import { ProcessGroup } from '../util/process-group.js'
import { OpenAIBackend } from './openai.js'

/**
 * vLLM servers medrl starts for a checkpoint (`vllm serve MODEL`), waits for, evaluates through the OpenAI
 * backend and stops. Several copies (`data_parallel`), each on its own GPUs, feed one backend that sends each
 * request to the least busy; this is how one node with GPUs to spare evaluates a cell in a fraction of the time.
 */
export const VllmSettingsSchema = z
  .object({
    command: z.array(z.string()).min(1).default(['vllm']).describe('the command that runs vLLM’s CLI (e.g. [vllm], or [python3, -m, vllm.entrypoints.cli.main]); `serve MODEL …` follows'),
    host: z.string().default('127.0.0.1').describe('address the servers bind (loopback: only this node evaluates through them)'),
    port_range: z.tuple([z.number().int().min(1).max(65535), z.number().int().min(1).max(65535)]).default([8100, 8199]).describe('ports tried for the servers, first free first'),
    tensor_parallel_size: z.number().int().positive().default(1).describe('GPUs per server (--tensor-parallel-size)'),
    data_parallel: z.number().int().positive().default(1).describe('servers started, each on its own tensor_parallel_size GPUs'),
    gpus: z.array(z.number().int().min(0)).default([]).describe('GPU ids to use (default 0 … data_parallel × tensor_parallel_size − 1), split among the servers'),
    gpu_memory_utilization: z.number().gt(0).max(1).default(0.9).describe('share of each GPU vLLM may take (--gpu-memory-utilization)'),
    max_model_len: z.number().int().positive().optional().describe('context length to serve (--max-model-len; default: the model’s)'),
    start_timeout_seconds: z.number().positive().default(1200).describe('how long a server may take to answer GET /v1/models before the start counts as failed'),
    concurrency: z.number().int().positive().default(64).describe('requests in flight per server'),
    extra_args: z.array(z.string()).default([]).describe('more `vllm serve` flags, as they are'),
  })
  .strict()

export type VllmSettings = z.infer<typeof VllmSettingsSchema>

/** A model being served by servers medrl started, with the backend that talks to them. */
export interface ServedModel {
  backend: OpenAIBackend
  urls: string[]
  close(): Promise<void>
}

/** The GPU ids each server gets: `gpus` (or 0…n−1) cut into data_parallel groups of tensor_parallel_size. */
export function gpuGroups(s: VllmSettings): number[][] {
  const need = s.data_parallel * s.tensor_parallel_size
  const gpus = s.gpus.length > 0 ? s.gpus : Array.from({ length: need }, (_, i) => i)
  if (gpus.length < need) throw new Error(`vllm: ${s.data_parallel} servers × ${s.tensor_parallel_size} GPUs need ${need} GPUs; gpus lists ${gpus.length}`)
  return Array.from({ length: s.data_parallel }, (_, i) => gpus.slice(i * s.tensor_parallel_size, (i + 1) * s.tensor_parallel_size))
}

/**
 * The `vllm serve` arguments of one server. Flags as vLLM's CLI defines them: `vllm serve [model_tag]`
 * (vllm/entrypoints/cli/serve.py), --host/--port (vllm/entrypoints/openai/cli_args.py, FrontendArgs), and the
 * engine's --served-model-name, --tensor-parallel-size, --gpu-memory-utilization, --max-model-len, --seed
 * (vllm/engine/arg_utils.py, EngineArgs).
 */
export function vllmServeArgs(model: string, s: VllmSettings, o: { port: number; name: string; seed: number }): string[] {
  return [
    ...s.command.slice(1),
    'serve',
    model,
    '--host',
    s.host,
    '--port',
    String(o.port),
    '--served-model-name',
    o.name,
    '--tensor-parallel-size',
    String(s.tensor_parallel_size),
    '--gpu-memory-utilization',
    String(s.gpu_memory_utilization),
    '--seed',
    String(o.seed),
    ...(s.max_model_len !== undefined ? ['--max-model-len', String(s.max_model_len)] : []),
    ...s.extra_args,
  ]
}

/** Whether a port is free on `host` now (another program may still take it before vLLM binds). */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, host, () => srv.close(() => resolve(true)))
  })
}

async function freePorts(s: VllmSettings, n: number): Promise<number[]> {
  const out: number[] = []
  for (let p = s.port_range[0]; p <= s.port_range[1] && out.length < n; p++) if (await portFree(s.host, p)) out.push(p)
  if (out.length < n) throw new Error(`vllm: ${n} free ports wanted in ${s.port_range[0]}–${s.port_range[1]} on ${s.host}, found ${out.length}: widen vllm.port_range`)
  return out
}

/** Polls GET /v1/models until the server lists `name`, the server exits, or the time is up. */
async function waitReady(g: ProcessGroup, url: string, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!g.running) throw new Error(`vllm server ${url} exited while starting (log ${g.logFile}):\n${g.tail()}`)
    try {
      const r = await fetch(`${url}/models`, { signal: AbortSignal.timeout(5000) })
      if (r.ok) {
        const ids = ((await r.json()) as { data?: { id: string }[] }).data?.map((m) => m.id) ?? []
        if (ids.includes(name)) return
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(`vllm server ${url} did not answer GET /v1/models within ${timeoutMs / 1000} s (log ${g.logFile}):\n${g.tail()}`)
}

/**
 * Starts `data_parallel` vLLM servers for `model` (a Hugging Face directory or hub id), waits until each lists it,
 * and returns an OpenAI backend over all of them. Logs go to `logDir`/vllm-I.log. If any server fails to start,
 * every server is stopped and the error names the log. `close()` stops them (SIGTERM to each process group).
 */
export async function startVllm(model: string, s: VllmSettings, o: { name: string; logDir: string; seed?: number; info?: (m: string) => void }): Promise<ServedModel> {
  const groups = gpuGroups(s)
  const ports = await freePorts(s, groups.length)
  mkdirSync(o.logDir, { recursive: true })
  const started: ProcessGroup[] = []
  const stopAll = () => Promise.all(started.map((g) => g.stop())).then(() => undefined)
  const urls = ports.map((p) => `http://${s.host.includes(':') ? `[${s.host}]` : s.host}:${p}/v1`)
  try {
    for (const [i, gpus] of groups.entries()) {
      const args = vllmServeArgs(model, s, { port: ports[i]!, name: o.name, seed: o.seed ?? 0 })
      o.info?.(`vllm: ${[s.command[0], ...args].join(' ')} (GPUs ${gpus.join(',')})`)
      started.push(ProcessGroup.start(`vllm server ${i}`, s.command[0]!, args, { env: { ...process.env, CUDA_VISIBLE_DEVICES: gpus.join(',') }, logFile: join(o.logDir, `vllm-${i}.log`) }))
    }
    await Promise.all(started.map((g, i) => waitReady(g, urls[i]!, o.name, s.start_timeout_seconds * 1000)))
  } catch (e) {
    await stopAll()
    throw e
  }
  const backend = new OpenAIBackend({ baseUrl: urls.join(','), model: o.name, concurrency: s.concurrency * urls.length, identity: `vllm ${model}` })
  return {
    backend,
    urls,
    close: async () => {
      await backend.close()
      await stopAll()
    },
  }
}
