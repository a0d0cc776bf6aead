import * as ort from 'onnxruntime-node'
import type { Graph, GraphInput, Sym } from './graph.js'
import { Tensor, type DType, type TypedData } from './tensor.js'
import { engineThreads } from './threads.js'

export { engineThreads }

const ORT_TYPE: Record<DType, ort.Tensor.Type> = { float32: 'float32', float64: 'float64', int64: 'int64', int32: 'int32', bool: 'bool' }

function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[t.dtype], t.data as never, [...t.shape])
}

function fromOrt(v: ort.Tensor, dtype: DType): Tensor {
  return new Tensor(dtype, v.data as TypedData, v.dims.map(Number))
}

/** A compiled graph: one onnxruntime session computing named outputs from named inputs. */
export class Program {
  private readonly session: ort.InferenceSession
  readonly inputs: GraphInput[]
  private readonly outputs: Record<string, { onnx: string; dtype: DType; shape: readonly number[] }>
  /** Matrix-product FLOPs one run performs. */
  readonly matmulFlops: number

  private constructor(session: ort.InferenceSession, inputs: GraphInput[], outputs: Program['outputs'], flops: number) {
    this.session = session
    this.inputs = inputs
    this.outputs = outputs
    this.matmulFlops = flops
  }

  static async compile(g: Graph, outputs: Record<string, Sym>, opts: { threads?: number } = {}): Promise<Program> {
    const model = g.toModel(outputs)
    const session = await ort.InferenceSession.create(model.bytes, {
      intraOpNumThreads: opts.threads ?? engineThreads(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      // Extended fusions (QuickGelu, fused attention…) exist for float only; float64 graphs are for checks.
      graphOptimizationLevel: g.float === 'float64' ? 'basic' : 'all',
      enableCpuMemArena: true,
      // No memory pattern: with it, onnxruntime allocates one block of the first run's peak beside the chunks
      // the arena already holds from that run (an arena never shrinks), doubling a training step's peak RSS
      // (5.0 → 3.1 GB measured on the bench's 39M model) for no speed gain.
      enableMemPattern: false,
      logSeverityLevel: 3,
      // MEDRL_ORT_PROFILE=PREFIX writes onnxruntime's per-node trace of every program (PREFIX_<time>.json).
      ...(process.env.MEDRL_ORT_PROFILE ? { enableProfiling: true, profileFilePrefix: process.env.MEDRL_ORT_PROFILE } : {}),
    })
    const outs: Program['outputs'] = {}
    for (const [name, s] of Object.entries(outputs)) outs[name] = { onnx: model.outputNames[name]!, dtype: s.dtype, shape: s.shape }
    return new Program(session, model.inputs, outs, g.matmulFlops)
  }

  /** Runs with every input the outputs need; a missing or mis-shaped feed is an error naming it. */
  private active = 0
  private releasing: Promise<void> | null = null
  private releaseWhenIdle = false

  async run(feeds: Record<string, Tensor>, only?: string[]): Promise<Record<string, Tensor>> {
    if (this.releasing) throw new Error('run on a released program')
    this.active++
    try {
      return await this.runNow(feeds, only)
    } finally {
      this.active--
      if (this.active === 0 && this.releaseWhenIdle) void this.release()
    }
  }

  private async runNow(feeds: Record<string, Tensor>, only?: string[]): Promise<Record<string, Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {}
    for (const i of this.inputs) {
      const t = feeds[i.sym.name]
      if (t === undefined) throw new Error(`missing input "${i.sym.name}" [${i.sym.shape.join(', ')}]`)
      if (t.dtype !== i.sym.dtype || t.shape.length !== i.sym.shape.length || t.shape.some((d, k) => d !== i.sym.shape[k])) {
        throw new Error(`input "${i.sym.name}" must be ${i.sym.dtype} [${i.sym.shape.join(', ')}], got ${t.dtype} [${t.shape.join(', ')}]`)
      }
      ortFeeds[i.sym.name] = toOrt(t)
    }
    const names = only ?? Object.keys(this.outputs)
    const res = await this.session.run(ortFeeds, names.map((n) => this.outputs[n]!.onnx))
    const out: Record<string, Tensor> = {}
    for (const n of names) out[n] = fromOrt(res[this.outputs[n]!.onnx] as ort.Tensor, this.outputs[n]!.dtype)
    return out
  }

  /** Frees the session (after any run in flight finishes). */
  async release(): Promise<void> {
    if (this.active > 0) {
      this.releaseWhenIdle = true
      return
    }
    this.releasing ??= this.session.release()
    await this.releasing
  }
}

/**
 * Compiled programs by key (a batch shape and a kind), compiled on first use. Each onnxruntime session
 * keeps its own memory arena, so the cache holds at most `limit` programs and releases the least recently
 * used one beyond that (shapes vary from batch to batch in generation and evaluation).
 */
export class ProgramCache {
  private readonly programs = new Map<string, Promise<Program>>()

  constructor(private readonly limit = 6) {}

  get(key: string, build: () => { g: Graph; outputs: Record<string, Sym> }): Promise<Program> {
    let p = this.programs.get(key)
    if (p) {
      // Most recently used last.
      this.programs.delete(key)
      this.programs.set(key, p)
      return p
    }
    if (process.env.MEDRL_TRACE_COMPILES) process.stderr.write(`compile ${key}\n`)
    const { g, outputs } = build()
    p = Program.compile(g, outputs)
    this.programs.set(key, p)
    while (this.programs.size > this.limit) {
      const [oldKey, old] = this.programs.entries().next().value as [string, Promise<Program>]
      this.programs.delete(oldKey)
      // Released once any run in flight on it has finished (runs are awaited by their callers first).
      void old.then((x) => x.release()).catch(() => {})
    }
    return p
  }

  get size(): number {
    return this.programs.size
  }

  async releaseAll(): Promise<void> {
    const ps = [...this.programs.values()]
    this.programs.clear()
    for (const p of ps) await (await p).release()
  }
}
