import { DataType, encodeModel, type AttrValue, type NodeInit, type OnnxDataType, type ValueInfoInit } from './onnx-proto.js'
import type { DType, FloatDType } from './tensor.js'

/**
 * A static-shape computation graph that becomes one ONNX model. Ops record themselves on a tape as they
 * emit ONNX nodes; `gradients()` walks the tape backwards and emits the backward pass into the same graph,
 * so a whole forward + backward step runs as one onnxruntime call.
 */

const ONNX_TYPE: Record<DType, OnnxDataType> = { float32: DataType.FLOAT, float64: DataType.DOUBLE, int64: DataType.INT64, int32: DataType.INT32, bool: DataType.BOOL }

/** A symbolic tensor: a name in the graph with a known shape and dtype. */
export class Sym {
  readonly g: Graph
  readonly name: string
  readonly shape: readonly number[]
  readonly dtype: DType

  constructor(g: Graph, name: string, shape: readonly number[], dtype: DType) {
    this.g = g
    this.name = name
    this.shape = shape
    this.dtype = dtype
  }

  get rank(): number {
    return this.shape.length
  }

  get isFloat(): boolean {
    return this.dtype === 'float32' || this.dtype === 'float64'
  }
}

export type Attrs = Record<string, unknown>

/**
 * A gradient given as rows to add into a table: grad[ids[i]] += updates[i] (the gradient of an embedding
 * lookup). onnxruntime's ScatterND with reduction "add" loses updates to repeated ids when it runs on
 * several threads, so for graph inputs these rows are returned and added on the host, exactly.
 */
export interface RowGrad {
  rows: { ids: Sym; updates: Sym }
}

/** An op with its gradient rule beside it (the tfjs-core pattern). */
export interface OpDef {
  name: string
  /** Emits the forward ONNX nodes; returns the outputs. */
  forward(g: Graph, inputs: Sym[], attrs: Attrs): Sym[]
  /** Emits nodes computing the gradient of each input from the output gradients (null: no gradient flows). */
  backward?(g: Graph, inputs: Sym[], outputs: Sym[], grads: (Sym | null)[], attrs: Attrs): (Sym | RowGrad | null)[]
}

interface TapeEntry {
  op: OpDef
  inputs: Sym[]
  outputs: Sym[]
  attrs: Attrs
}

export interface GraphInput {
  sym: Sym
  trainable: boolean
}

export class Graph {
  /** The float type every float tensor of this graph has: float32 to run, float64 for gradient checks. */
  readonly float: FloatDType
  readonly nodes: NodeInit[] = []
  readonly inputs = new Map<string, GraphInput>()
  private readonly tape: TapeEntry[] = []
  private readonly producer = new Map<string, number>()
  private readonly constants = new Map<string, Sym>()
  private counter = 0
  /** Floating-point operations of the matrix products emitted so far (2·M·N·K each). */
  matmulFlops = 0
  /** Row gradients of graph inputs, to add on the host (see RowGrad), by input name. */
  readonly rowGrads = new Map<string, { ids: Sym; updates: Sym }[]>()
  /** Inputs asked for in gradients() that got no dense gradient (their dense part is all zeros). */
  readonly noDenseGrad = new Set<string>()

  constructor(float: FloatDType = 'float32') {
    this.float = float
  }

  fresh(hint: string): string {
    return `${hint}_${this.counter++}`
  }

  /** A graph input fed at run time (data, masks, ids). */
  input(name: string, shape: readonly number[], dtype: DType = this.float): Sym {
    return this.declare(name, shape, dtype, false)
  }

  /** A trainable parameter, fed at run time like an input; gradients can be asked for it. */
  param(name: string, shape: readonly number[]): Sym {
    return this.declare(name, shape, this.float, true)
  }

  /** Whether any input is a trainable parameter (a program that may be differentiated). */
  get hasParams(): boolean {
    for (const i of this.inputs.values()) if (i.trainable) return true
    return false
  }

  private declare(name: string, shape: readonly number[], dtype: DType, trainable: boolean): Sym {
    if (this.inputs.has(name)) throw new Error(`graph input "${name}" declared twice`)
    const s = new Sym(this, name, shape, dtype)
    this.inputs.set(name, { sym: s, trainable })
    return s
  }

  /** Emits one raw ONNX node (not on the tape: use ops for anything differentiable). */
  node(opType: string, inputs: (Sym | string)[], out: { shape: readonly number[]; dtype: DType }[], attrs?: Record<string, AttrValue>): Sym[] {
    const outs = out.map((o) => new Sym(this, this.fresh(opType.toLowerCase()), o.shape, o.dtype))
    const n: NodeInit = { opType, inputs: inputs.map((i) => (typeof i === 'string' ? i : i.name)), outputs: outs.map((o) => o.name) }
    if (attrs !== undefined) n.attrs = attrs
    const idx = this.nodes.push(n) - 1
    for (const o of outs) this.producer.set(o.name, idx)
    return outs
  }

  node1(opType: string, inputs: (Sym | string)[], shape: readonly number[], dtype: DType, attrs?: Record<string, AttrValue>): Sym {
    return this.node(opType, inputs, [{ shape, dtype }], attrs)[0]!
  }

  /** Applies an op: emits its forward nodes and records it for the backward pass. */
  apply(op: OpDef, inputs: Sym[], attrs: Attrs = {}): Sym[] {
    for (const i of inputs) if (i.g !== this) throw new Error(`op ${op.name}: input ${i.name} belongs to another graph`)
    const outputs = op.forward(this, inputs, attrs)
    this.tape.push({ op, inputs, outputs, attrs })
    return outputs
  }

  /**
   * A constant tensor, emitted once per graph: small ones are cached by value, a large one by the `name`
   * its caller gives it (the same name must mean the same values).
   */
  constant(values: readonly number[], shape: readonly number[], dtype: DType = this.float, name?: string): Sym {
    const key = name !== undefined ? `${dtype}|${shape.join(',')}|name:${name}` : values.length <= 16 ? `${dtype}|${shape.join(',')}|${values.join(',')}` : undefined
    if (key !== undefined) {
      const hit = this.constants.get(key)
      if (hit) return hit
    }
    const raw =
      dtype === 'float32'
        ? new Uint8Array(Float32Array.from(values).buffer)
        : dtype === 'float64'
          ? new Uint8Array(Float64Array.from(values).buffer)
          : dtype === 'int64'
            ? new Uint8Array(BigInt64Array.from(values, (v) => BigInt(v)).buffer)
            : dtype === 'int32'
              ? new Uint8Array(Int32Array.from(values).buffer)
              : Uint8Array.from(values)
    const s = this.node1('Constant', [], shape, dtype, { value: { tensor: { dataType: ONNX_TYPE[dtype], dims: [...shape], raw } } })
    if (key !== undefined) this.constants.set(key, s)
    return s
  }

  scalar(v: number, dtype: DType = this.float): Sym {
    return this.constant([v], [], dtype)
  }

  ints(values: readonly number[]): Sym {
    return this.constant(values, [values.length], 'int64')
  }

  /** A tensor of zeros of the given shape and dtype. */
  zeros(shape: readonly number[], dtype: DType = this.float): Sym {
    const raw = dtype === 'float64' ? new Uint8Array(8) : dtype === 'int64' ? new Uint8Array(8) : new Uint8Array(4)
    return this.node1('ConstantOfShape', [this.ints(shape)], shape, dtype, { value: { tensor: { dataType: ONNX_TYPE[dtype], dims: [1], raw } } })
  }

  /**
   * Emits the backward pass of `loss` (a scalar) and returns d loss / d x for each x in `wrt` (zeros for
   * an x the loss does not depend on).
   */
  gradients(loss: Sym, wrt: readonly Sym[]): Sym[] {
    if (loss.shape.length !== 0) throw new Error(`gradients needs a scalar loss, got shape [${loss.shape.join(', ')}]`)
    // Which tensors depend on a trainable input (only their gradients are needed).
    const needs = new Set<string>(wrt.map((w) => w.name))
    const end = this.tape.length
    for (let i = 0; i < end; i++) {
      const e = this.tape[i]!
      if (e.op.backward && e.inputs.some((x) => needs.has(x.name))) for (const o of e.outputs) if (o.isFloat) needs.add(o.name)
    }
    const grads = new Map<string, Sym>()
    grads.set(loss.name, this.constant([1], [], this.float))
    for (let i = end - 1; i >= 0; i--) {
      const e = this.tape[i]!
      if (!e.op.backward) continue
      const gOut = e.outputs.map((o) => grads.get(o.name) ?? null)
      if (gOut.every((x) => x === null)) continue
      if (!e.inputs.some((x) => needs.has(x.name))) continue
      const gIn = e.op.backward(this, e.inputs, e.outputs, gOut, e.attrs)
      e.inputs.forEach((x, k) => {
        let gk = gIn[k]
        if (!gk || !needs.has(x.name)) return
        if ('rows' in gk) {
          if (this.inputs.has(x.name)) {
            const list = this.rowGrads.get(x.name) ?? []
            list.push(gk.rows)
            this.rowGrads.set(x.name, list)
            return
          }
          gk = this.denseRows(x, gk.rows.ids, gk.rows.updates)
        }
        if (gk.shape.join(',') !== x.shape.join(',')) throw new Error(`op ${e.op.name}: gradient of input ${k} has shape [${gk.shape}] but the input has [${x.shape}]`)
        const prev = grads.get(x.name)
        grads.set(x.name, prev ? this.node1('Add', [prev, gk], x.shape, x.dtype) : gk)
      })
    }
    return wrt.map((w) => {
      const d = grads.get(w.name)
      if (d) return d
      this.noDenseGrad.add(w.name)
      return this.zeros(w.shape, w.dtype)
    })
  }

  /** Row gradients of a computed table, made dense in the graph exactly: one-hot(ids)ᵀ · updates. */
  private denseRows(table: Sym, ids: Sym, updates: Sym): Sym {
    const [v, d] = table.shape as [number, number]
    const n = ids.shape.reduce((a, b) => a * b, 1)
    const flatIds = this.node1('Reshape', [ids, this.ints([n, 1])], [n, 1], 'int64')
    const range = this.constant([...Array(v).keys()], [1, v], 'int64')
    const onehot = this.node1('Cast', [this.node1('Equal', [flatIds, range], [n, v], 'bool')], [n, v], table.dtype, { to: table.dtype === 'float64' ? 11 : 1 })
    const upd = this.node1('Reshape', [updates, this.ints([n, d])], [n, d], updates.dtype)
    this.matmulFlops += 2 * n * v * d
    return this.node1('Gemm', [onehot, upd], [v, d], table.dtype, { transA: 1 })
  }

  /**
   * The ONNX model computing `outputs` from the graph inputs, with only the nodes and inputs they need
   * (so a forward-only program carries no backward nodes and keeps no activations for them).
   */
  toModel(outputs: Record<string, Sym>): { bytes: Uint8Array; inputs: GraphInput[]; outputNames: Record<string, string> } {
    const needed = new Set<number>()
    const stack = Object.values(outputs).map((s) => s.name)
    const usedInputs = new Set<string>()
    const seen = new Set<string>()
    while (stack.length > 0) {
      const name = stack.pop()!
      if (seen.has(name)) continue
      seen.add(name)
      const idx = this.producer.get(name)
      if (idx === undefined) {
        if (!this.inputs.has(name)) throw new Error(`tensor ${name} is neither produced by a node nor a graph input`)
        usedInputs.add(name)
        continue
      }
      if (needed.has(idx)) continue
      needed.add(idx)
      for (const i of this.nodes[idx]!.inputs) if (i !== '') stack.push(i)
    }
    const nodes = this.nodes.filter((_, i) => needed.has(i))
    // A computed tensor is an output under its own name; a graph input or a tensor asked for twice goes out
    // through an Identity node (a copy: for a training program's gradients that was 2 × the model's bytes).
    const outInfos: ValueInfoInit[] = []
    const outputNames: Record<string, string> = {}
    const taken = new Set<string>()
    for (const [name, s] of Object.entries(outputs)) {
      let public_ = s.name
      if (!this.producer.has(s.name) || taken.has(s.name)) {
        public_ = `out_${name}`
        nodes.push({ opType: 'Identity', inputs: [s.name], outputs: [public_] })
      }
      taken.add(public_)
      outInfos.push({ name: public_, dataType: ONNX_TYPE[s.dtype], dims: [...s.shape] })
      outputNames[name] = public_
    }
    const inputs = [...this.inputs.values()].filter((i) => usedInputs.has(i.sym.name))
    const bytes = encodeModel({
      name: 'medrl',
      nodes,
      inputs: inputs.map((i) => ({ name: i.sym.name, dataType: ONNX_TYPE[i.sym.dtype], dims: [...i.sym.shape] })),
      outputs: outInfos,
    })
    return { bytes, inputs, outputNames }
  }
}
