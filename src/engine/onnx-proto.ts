/**
 * A minimal protobuf encoder for the ONNX messages medrl emits (ModelProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto, ValueInfoProto). Field numbers follow onnx/onnx.proto.
 */

export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11, BFLOAT16: 16 } as const
export type OnnxDataType = (typeof DataType)[keyof typeof DataType]

class Writer {
  private chunks: Uint8Array[] = []
  private buf = new Uint8Array(256)
  private pos = 0

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    this.chunks.push(this.buf.subarray(0, this.pos))
    this.buf = new Uint8Array(Math.max(256, n * 2))
    this.pos = 0
  }

  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v))
    this.ensure(10)
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80
      x >>= 7n
    }
    this.buf[this.pos++] = Number(x)
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire)
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2)
    this.varint(data.length)
    this.ensure(data.length)
    this.buf.set(data, this.pos)
    this.pos += data.length
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s))
  }

  int(field: number, v: number | bigint): void {
    this.tag(field, 0)
    this.varint(v)
  }

  float(field: number, v: number): void {
    this.tag(field, 5)
    this.ensure(4)
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).setFloat32(0, v, true)
    this.pos += 4
  }

  message(field: number, m: Writer): void {
    this.bytes(field, m.finish())
  }

  packedInts(field: number, vs: readonly (number | bigint)[]): void {
    const w = new Writer()
    for (const v of vs) w.varint(v)
    this.bytes(field, w.finish())
  }

  packedFloats(field: number, vs: readonly number[]): void {
    const f = new Float32Array(vs)
    this.bytes(field, new Uint8Array(f.buffer))
  }

  finish(): Uint8Array {
    const parts = [...this.chunks, this.buf.subarray(0, this.pos)]
    const n = parts.reduce((a, p) => a + p.length, 0)
    const out = new Uint8Array(n)
    let o = 0
    for (const p of parts) {
      out.set(p, o)
      o += p.length
    }
    return out
  }
}

export type AttrValue = number | string | number[] | { floats: number[] } | { tensor: TensorInit } | { int: number }

export interface NodeInit {
  opType: string
  inputs: string[]
  outputs: string[]
  name?: string
  domain?: string
  attrs?: Record<string, AttrValue>
}

export interface TensorInit {
  name?: string
  dataType: OnnxDataType
  dims: number[]
  /** Little-endian bytes of the elements. */
  raw: Uint8Array
}

export interface ValueInfoInit {
  name: string
  dataType: OnnxDataType
  dims: (number | string)[]
}

export interface GraphInit {
  name: string
  nodes: NodeInit[]
  inputs: ValueInfoInit[]
  outputs: ValueInfoInit[]
  initializers?: TensorInit[]
}

function tensorProto(t: TensorInit): Writer {
  const w = new Writer()
  w.packedInts(1, t.dims)
  w.int(2, t.dataType)
  if (t.name !== undefined) w.string(8, t.name)
  w.bytes(9, t.raw)
  return w
}

function attribute(name: string, v: AttrValue): Writer {
  const w = new Writer()
  w.string(1, name)
  if (typeof v === 'number') {
    if (Number.isInteger(v)) {
      w.int(3, v)
      w.int(20, 2) // INT
    } else {
      w.float(2, v)
      w.int(20, 1) // FLOAT
    }
  } else if (typeof v === 'string') {
    w.bytes(4, new TextEncoder().encode(v))
    w.int(20, 3) // STRING
  } else if (Array.isArray(v)) {
    w.packedInts(8, v)
    w.int(20, 7) // INTS
  } else if ('floats' in v) {
    w.packedFloats(7, v.floats)
    w.int(20, 6) // FLOATS
  } else if ('int' in v) {
    w.int(3, v.int)
    w.int(20, 2)
  } else {
    w.message(5, tensorProto(v.tensor))
    w.int(20, 4) // TENSOR
  }
  return w
}

/** A float attribute that happens to be a whole number (e.g. alpha = 1.0) must still be written as FLOAT. */
export function floatAttr(v: number): AttrValue {
  return Number.isInteger(v) ? { floats: [v] } : v
}

function valueInfo(v: ValueInfoInit): Writer {
  const shape = new Writer()
  for (const d of v.dims) {
    const dim = new Writer()
    if (typeof d === 'number') dim.int(1, d)
    else dim.string(2, d)
    shape.message(1, dim)
  }
  const tensorType = new Writer()
  tensorType.int(1, v.dataType)
  tensorType.message(2, shape)
  const type = new Writer()
  type.message(1, tensorType)
  const w = new Writer()
  w.string(1, v.name)
  w.message(2, type)
  return w
}

function graphProto(g: GraphInit): Writer {
  const w = new Writer()
  for (const n of g.nodes) {
    const nw = new Writer()
    for (const i of n.inputs) nw.string(1, i)
    for (const o of n.outputs) nw.string(2, o)
    if (n.name !== undefined) nw.string(3, n.name)
    nw.string(4, n.opType)
    for (const [k, v] of Object.entries(n.attrs ?? {})) nw.message(5, attribute(k, v))
    if (n.domain !== undefined) nw.string(7, n.domain)
    w.message(1, nw)
  }
  w.string(2, g.name)
  for (const t of g.initializers ?? []) w.message(5, tensorProto(t))
  for (const i of g.inputs) w.message(11, valueInfo(i))
  for (const o of g.outputs) w.message(12, valueInfo(o))
  return w
}

export const OPSET = 17
export const IR_VERSION = 8

/** Serialises a graph as an ONNX ModelProto (IR 8, default opset 17). */
export function encodeModel(g: GraphInit, producer = 'medrl'): Uint8Array {
  const w = new Writer()
  w.int(1, IR_VERSION)
  w.string(2, producer)
  w.message(7, graphProto(g))
  const opset = new Writer()
  opset.string(1, '')
  opset.int(2, OPSET)
  w.message(8, opset)
  return w.finish()
}
