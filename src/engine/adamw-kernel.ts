import { Worker } from 'node:worker_threads'

/**
 * AdamW's per-element update over one parameter buffer, in place. `s` holds the step's scalars in the order
 * of ADAMW_SCALARS. One pass with the moments kept in locals (rounded to float32 as they are stored).
 * Self-contained (no outer names): the helper thread runs this very function's source.
 */
export function adamwKernel(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, s: Float64Array, decay: number): void {
  const gradScale = s[0]!
  const b1 = s[1]!
  const b2 = s[2]!
  const c1 = s[3]!
  const c2 = s[4]!
  const stepSize = s[5]!
  const invBc2Sqrt = s[6]!
  const eps = s[7]!
  const n = p.length
  for (let i = 0; i < n; i++) {
    const gi = g[i]! * gradScale
    const mi = Math.fround(b1 * m[i]! + c1 * gi)
    const vi = Math.fround(b2 * v[i]! + c2 * gi * gi)
    m[i] = mi
    v[i] = vi
    p[i] = p[i]! * decay - (stepSize * mi) / (Math.sqrt(vi) * invBc2Sqrt + eps)
  }
}

export const ADAMW_SCALARS = ['gradScale', 'beta1', 'beta2', 'c1', 'c2', 'stepSize', 'invBc2Sqrt', 'eps'] as const

/** One parameter the helper thread updates: its moments live in shared memory, p and g are copied in. */
interface SharedSlot {
  name: string
  p: Float32Array
  g: Float32Array
  m: Float32Array
  v: Float32Array
}

const shared = (n: number) => new Float32Array(new SharedArrayBuffer(4 * n))

// The helper: waits on ctrl[0] (job number), runs the kernel over its slots, publishes ctrl[1] = job number
// (ctrl[2] = 1 when it failed). Blocking waits, not messages: the main thread is blocked in step() meanwhile.
const HELPER = `
const { workerData } = require('node:worker_threads')
const kernel = ${adamwKernel.toString()}
const { ctrl, scalars, decays, slots } = workerData
let seen = 0
for (;;) {
  Atomics.wait(ctrl, 0, seen)
  seen = Atomics.load(ctrl, 0)
  try {
    for (let k = 0; k < slots.length; k++) kernel(slots[k].p, slots[k].g, slots[k].m, slots[k].v, scalars, decays[k])
  } catch (e) {
    Atomics.store(ctrl, 2, 1)
  }
  Atomics.store(ctrl, 1, seen)
  Atomics.notify(ctrl, 1)
}
`

/**
 * A second thread for AdamW's update: it takes about half of the elements (whole parameters, largest first,
 * at most `maxElements`), so a step costs half the passes plus copying those parameters and gradients in
 * and out of shared memory (onnxruntime does not accept shared buffers as feeds, so the model's own buffers
 * cannot be shared). Every element gets the same arithmetic as on one thread: results are bit-identical.
 */
export class AdamWHelper {
  private readonly worker: Worker
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(12))
  private readonly scalars = new Float64Array(new SharedArrayBuffer(8 * ADAMW_SCALARS.length))
  private readonly decays: Float64Array
  private job = 0
  /** Elements the helper updates. */
  readonly elements: number

  private constructor(
    readonly slots: SharedSlot[],
    readonly names: Set<string>,
    readonly key: string,
  ) {
    this.elements = slots.reduce((n, s) => n + s.p.length, 0)
    this.decays = new Float64Array(new SharedArrayBuffer(8 * Math.max(1, slots.length)))
    this.worker = new Worker(HELPER, { eval: true, workerData: { ctrl: this.ctrl, scalars: this.scalars, decays: this.decays, slots } })
    this.worker.unref()
  }

  /** The parameters the helper takes (a key of names and sizes, to notice a different model). */
  static plan(params: Record<string, Float32Array>, maxElements: number): { names: string[]; key: string } {
    const entries = Object.entries(params).sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
    const total = entries.reduce((s, [, p]) => s + p.length, 0)
    const target = Math.min(total / 2, maxElements)
    const names: string[] = []
    let taken = 0
    for (const [n, p] of entries) {
      if (taken + p.length > target) continue
      names.push(n)
      taken += p.length
    }
    return { names, key: entries.map(([n, p]) => `${n}:${p.length}`).join(',') }
  }

  /** A helper for these parameters; their moments (if any yet) move into shared memory and are returned. */
  static start(params: Record<string, Float32Array>, names: string[], key: string, moments: { m: Record<string, Float32Array>; v: Record<string, Float32Array> }): AdamWHelper {
    const slots = names.map((name) => {
      const n = params[name]!.length
      const slot = { name, p: shared(n), g: shared(n), m: shared(n), v: shared(n) }
      if (moments.m[name]) slot.m.set(moments.m[name]!)
      if (moments.v[name]) slot.v.set(moments.v[name]!)
      moments.m[name] = slot.m
      moments.v[name] = slot.v
      return slot
    })
    return new AdamWHelper(slots, new Set(names), key)
  }

  /** Copies the helper's parameters and gradients in and starts it on the step's scalars. */
  begin(params: Record<string, Float32Array>, grads: Record<string, Float32Array>, scalars: Float64Array, decayOf: (name: string) => number): void {
    this.slots.forEach((s, k) => {
      s.p.set(params[s.name]!)
      s.g.set(grads[s.name]!)
      this.decays[k] = decayOf(s.name)
    })
    this.scalars.set(scalars)
    Atomics.store(this.ctrl, 0, ++this.job)
    Atomics.notify(this.ctrl, 0)
  }

  /** Waits for the helper and copies its parameters back. */
  finish(params: Record<string, Float32Array>): void {
    for (;;) {
      const done = Atomics.load(this.ctrl, 1)
      if (done === this.job) break
      Atomics.wait(this.ctrl, 1, done, 60_000)
    }
    if (Atomics.load(this.ctrl, 2) !== 0) throw new Error('AdamW: the update thread failed')
    for (const s of this.slots) params[s.name]!.set(s.p)
  }

  async close(): Promise<void> {
    await this.worker.terminate()
  }
}
