import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { AtomicWriter } from '../../util/atomic.js'
import { TENSOR_TYPES, tensorTypeById, type TensorTypeName } from './tensor-types.js'

/**
 * GGUF version 3, the file llama.cpp, Ollama and LM Studio read: "GGUF", version, tensor and key-value
 * counts, the key-values (typed, little-endian), one info record per tensor (name, dims innermost first,
 * ggml type, offset into the data), then the tensors' bytes, each aligned to `general.alignment` (32).
 */

const MAGIC = 0x46554747 // "GGUF" read as a little-endian uint32
const VERSION = 3
export const DEFAULT_ALIGNMENT = 32

/** GGUF's value types, by the ids the format gives them. */
const VALUE_TYPES = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const
export type ScalarType = Exclude<keyof typeof VALUE_TYPES, 'array'>
const TYPE_BY_ID = new Map<number, keyof typeof VALUE_TYPES>(Object.entries(VALUE_TYPES).map(([k, v]) => [v, k as keyof typeof VALUE_TYPES]))

export type GgufScalar = number | bigint | boolean | string
export interface GgufKv {
  type: ScalarType | 'array'
  /** The element type of an array. */
  elem?: ScalarType
  value: GgufScalar | GgufScalar[]
}
export type GgufMetadata = Map<string, GgufKv>

/** A tensor to write: GGUF dims (innermost first), its type, and a function that produces its bytes when written. */
export interface GgufTensorOut {
  name: string
  dims: number[]
  type: TensorTypeName
  bytes: () => Uint8Array
}

/** Little-endian bytes appended to a list of chunks (the header is small; tensors are streamed separately). */
class ByteSink {
  readonly chunks: Buffer[] = []
  length = 0
  private push(b: Buffer): void {
    this.chunks.push(b)
    this.length += b.length
  }
  u32(v: number): void {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(v)
    this.push(b)
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(BigInt(v))
    this.push(b)
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8')
    this.u64(b.length)
    this.push(b)
  }
  scalar(type: ScalarType, v: GgufScalar): void {
    const b = Buffer.alloc(type === 'u8' || type === 'i8' || type === 'bool' ? 1 : type === 'u16' || type === 'i16' ? 2 : type === 'u64' || type === 'i64' || type === 'f64' ? 8 : 4)
    switch (type) {
      case 'u8': b.writeUInt8(Number(v)); break
      case 'i8': b.writeInt8(Number(v)); break
      case 'u16': b.writeUInt16LE(Number(v)); break
      case 'i16': b.writeInt16LE(Number(v)); break
      case 'u32': b.writeUInt32LE(Number(v)); break
      case 'i32': b.writeInt32LE(Number(v)); break
      case 'f32': b.writeFloatLE(Number(v)); break
      case 'bool': b.writeUInt8(v ? 1 : 0); break
      case 'u64': b.writeBigUInt64LE(BigInt(v)); break
      case 'i64': b.writeBigInt64LE(BigInt(v)); break
      case 'f64': b.writeDoubleLE(Number(v)); break
      case 'string': this.string(String(v)); return
    }
    this.push(b)
  }
  zeros(n: number): void {
    if (n > 0) this.push(Buffer.alloc(n))
  }
}

const padTo = (n: number, a: number) => (a - (n % a)) % a

/** Byte size of a tensor of these dims in this type (rows must hold whole blocks). */
export function tensorBytes(dims: readonly number[], type: TensorTypeName): number {
  const t = TENSOR_TYPES[type]
  const count = dims.reduce((a, b) => a * b, 1)
  if (dims[0]! % t.blockSize !== 0) throw new Error(`a row of ${dims[0]} values is not a whole number of ${type} blocks (${t.blockSize})`)
  return (count / t.blockSize) * t.blockBytes
}

/**
 * Writes a GGUF file atomically (temporary file, then rename): a failure or an interrupt leaves no
 * half-written model behind. Tensors are encoded one at a time, so memory holds one tensor, not the model.
 */
export function writeGguf(path: string, metadata: GgufMetadata, tensors: readonly GgufTensorOut[]): number {
  const alignment = Number(metadata.get('general.alignment')?.value ?? DEFAULT_ALIGNMENT)
  const head = new ByteSink()
  head.u32(MAGIC)
  head.u32(VERSION)
  head.u64(tensors.length)
  head.u64(metadata.size)
  for (const [key, kv] of metadata) {
    head.string(key)
    head.u32(VALUE_TYPES[kv.type])
    if (kv.type === 'array') {
      const items = kv.value as GgufScalar[]
      head.u32(VALUE_TYPES[kv.elem!])
      head.u64(items.length)
      for (const x of items) head.scalar(kv.elem!, x)
    } else head.scalar(kv.type, kv.value as GgufScalar)
  }
  let offset = 0
  const sizes = tensors.map((t) => tensorBytes(t.dims, t.type))
  tensors.forEach((t, i) => {
    head.string(t.name)
    head.u32(t.dims.length)
    for (const d of t.dims) head.u64(d)
    head.u32(TENSOR_TYPES[t.type].id)
    head.u64(offset)
    offset += sizes[i]! + padTo(sizes[i]!, alignment)
  })
  head.zeros(padTo(head.length, alignment))
  const w = new AtomicWriter(path)
  try {
    for (const c of head.chunks) w.write(c)
    tensors.forEach((t, i) => {
      const b = t.bytes()
      if (b.length !== sizes[i]) throw new Error(`tensor ${t.name}: encoded ${b.length} bytes, expected ${sizes[i]}`)
      w.write(b)
      if (padTo(b.length, alignment) > 0) w.write(new Uint8Array(padTo(b.length, alignment)))
    })
    w.commit()
  } catch (e) {
    w.abort()
    throw e
  }
  return head.length + offset
}

export interface GgufTensorInfo {
  name: string
  dims: number[]
  type: TensorTypeName
  /** Absolute position of the tensor's bytes in the file. */
  fileOffset: number
  bytes: number
}

export interface GgufFile {
  path: string
  version: number
  metadata: GgufMetadata
  tensors: GgufTensorInfo[]
  fileBytes: number
}

/** Reads from a file descriptor with bounds checks that name the file and what was being read. */
class ByteSource {
  pos = 0
  private buf = Buffer.alloc(0)
  private bufStart = 0
  constructor(
    private readonly fd: number,
    private readonly path: string,
    readonly size: number,
  ) {}
  private need(n: number, what: string): Buffer {
    if (this.pos + n > this.size) throw new Error(`${this.path}: ends inside ${what} (at byte ${this.pos}, needs ${n} more, file has ${this.size})`)
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      this.buf = Buffer.alloc(Math.max(n, 1 << 20))
      this.bufStart = this.pos
      readSync(this.fd, this.buf, 0, Math.min(this.buf.length, this.size - this.pos), this.pos)
    }
    const off = this.pos - this.bufStart
    this.pos += n
    return this.buf.subarray(off, off + n)
  }
  u32(what: string): number {
    return this.need(4, what).readUInt32LE(0)
  }
  u64(what: string): number {
    const v = this.need(8, what).readBigUInt64LE(0)
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${this.path}: ${what} is ${v}, too large`)
    return Number(v)
  }
  string(what: string): string {
    const n = this.u64(`the length of ${what}`)
    if (n > this.size) throw new Error(`${this.path}: ${what} claims ${n} bytes, more than the file`)
    return this.need(n, what).toString('utf8')
  }
  scalar(type: ScalarType, what: string): GgufScalar {
    switch (type) {
      case 'u8': return this.need(1, what).readUInt8(0)
      case 'i8': return this.need(1, what).readInt8(0)
      case 'u16': return this.need(2, what).readUInt16LE(0)
      case 'i16': return this.need(2, what).readInt16LE(0)
      case 'u32': return this.need(4, what).readUInt32LE(0)
      case 'i32': return this.need(4, what).readInt32LE(0)
      case 'f32': return this.need(4, what).readFloatLE(0)
      case 'bool': return this.need(1, what).readUInt8(0) !== 0
      case 'u64': return this.need(8, what).readBigUInt64LE(0)
      case 'i64': return this.need(8, what).readBigInt64LE(0)
      case 'f64': return this.need(8, what).readDoubleLE(0)
      case 'string': return this.string(what)
    }
  }
}

function valueType(id: number, path: string, what: string): keyof typeof VALUE_TYPES {
  const t = TYPE_BY_ID.get(id)
  if (t === undefined) throw new Error(`${path}: ${what} has unknown value type ${id}`)
  return t
}

/** Reads a GGUF file's header, key-values and tensor infos (not the tensor data). */
export function readGguf(path: string): GgufFile {
  const fd = openSync(path, 'r')
  try {
    const src = new ByteSource(fd, path, fstatSync(fd).size)
    if (src.size < 8 || src.u32('the magic') !== MAGIC) throw new Error(`${path}: not a GGUF file (no "GGUF" magic)`)
    const version = src.u32('the version')
    if (version !== 2 && version !== 3) throw new Error(`${path}: GGUF version ${version} is not supported (2, 3)`)
    const nTensors = src.u64('the tensor count')
    const nKv = src.u64('the key-value count')
    const metadata: GgufMetadata = new Map()
    for (let i = 0; i < nKv; i++) {
      const key = src.string(`key ${i}`)
      const type = valueType(src.u32(`the type of ${key}`), path, key)
      if (type === 'array') {
        const elem = valueType(src.u32(`the element type of ${key}`), path, key)
        if (elem === 'array') throw new Error(`${path}: ${key} is an array of arrays, which medrl does not read`)
        const n = src.u64(`the length of ${key}`)
        const items: GgufScalar[] = new Array(n)
        for (let k = 0; k < n; k++) items[k] = src.scalar(elem, `${key}[${k}]`)
        metadata.set(key, { type, elem, value: items })
      } else metadata.set(key, { type, value: src.scalar(type, key) })
    }
    const alignment = Number(metadata.get('general.alignment')?.value ?? DEFAULT_ALIGNMENT)
    const infos: Omit<GgufTensorInfo, 'fileOffset' | 'bytes'>[] = []
    const offsets: number[] = []
    for (let i = 0; i < nTensors; i++) {
      const name = src.string(`tensor name ${i}`)
      const nd = src.u32(`the dims of ${name}`)
      if (nd < 1 || nd > 4) throw new Error(`${path}: tensor ${name} has ${nd} dims (1–4)`)
      const dims = Array.from({ length: nd }, (_, k) => src.u64(`dim ${k} of ${name}`))
      const typeId = src.u32(`the type of ${name}`)
      const type = tensorTypeById(typeId)
      if (type === undefined) throw new Error(`${path}: tensor ${name} has ggml type ${typeId}, which medrl does not read (F32, F16, BF16, Q8_0)`)
      infos.push({ name, dims, type })
      offsets.push(src.u64(`the offset of ${name}`))
    }
    const dataStart = src.pos + padTo(src.pos, alignment)
    const tensors = infos.map((t, i) => {
      const bytes = tensorBytes(t.dims, t.type)
      const fileOffset = dataStart + offsets[i]!
      if (fileOffset + bytes > src.size) throw new Error(`${path}: tensor ${t.name} (${bytes} bytes at ${fileOffset}) runs past the end of the file (${src.size} bytes)`)
      return { ...t, fileOffset, bytes }
    })
    return { path, version, metadata, tensors, fileBytes: src.size }
  } finally {
    closeSync(fd)
  }
}

/** One tensor of a GGUF file as float32, dequantized (row-major, outermost dim first as in PyTorch). */
export function readGgufTensor(file: GgufFile, name: string): Float32Array {
  const t = file.tensors.find((x) => x.name === name)
  if (!t) throw new Error(`${file.path}: no tensor named ${name}`)
  const raw = Buffer.alloc(t.bytes)
  const fd = openSync(file.path, 'r')
  try {
    readSync(fd, raw, 0, t.bytes, t.fileOffset)
  } finally {
    closeSync(fd)
  }
  return TENSOR_TYPES[t.type].decode(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength))
}

/** A metadata value as a plain JS value (bigints that fit become numbers). */
export function metaValue(m: GgufMetadata, key: string): GgufScalar | GgufScalar[] | undefined {
  const v = m.get(key)?.value
  const plain = (x: GgufScalar) => (typeof x === 'bigint' && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x)
  return Array.isArray(v) ? v.map(plain) : v === undefined ? undefined : plain(v)
}
