import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs'
import { join } from 'node:path'
import { AtomicWriter, writeFileAtomic } from '../util/atomic.js'
import { Tensor, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../engine/tensor.js'

/**
 * safetensors, read and written by the format's rules: an 8-byte little-endian header length, a JSON
 * header (name → dtype, shape, data_offsets; optional __metadata__ of strings) padded with spaces so the
 * data starts 8-byte aligned, then the tensors' bytes back to back. Reading is lazy: one tensor at a time,
 * straight from the file into its float32 array, so a checkpoint never needs twice its size in memory.
 */

export type StorageDType = 'F32' | 'F16' | 'BF16' | 'F64'
const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 }

export interface TensorInfo {
  dtype: string
  shape: number[]
  data_offsets: [number, number]
}

export class SafetensorsError extends Error {
  constructor(file: string, what: string) {
    super(`${file}: ${what}`)
    this.name = 'SafetensorsError'
  }
}

/** An open safetensors file: its header, and tensors read on demand. */
export class SafetensorsFile {
  readonly path: string
  readonly tensors: Record<string, TensorInfo>
  readonly metadata: Record<string, string>
  private readonly dataStart: number
  private fd: number | null

  constructor(path: string) {
    this.path = path
    this.fd = openSync(path, 'r')
    try {
      const size = fstatSync(this.fd).size
      const lenBuf = Buffer.alloc(8)
      if (size < 8 || readSync(this.fd, lenBuf, 0, 8, 0) !== 8) throw new SafetensorsError(path, 'too short for a safetensors header')
      const n = Number(lenBuf.readBigUInt64LE(0))
      if (n > 100 * 2 ** 20 || 8 + n > size) throw new SafetensorsError(path, `header length ${n} does not fit the file (${size} bytes)`)
      const hb = Buffer.alloc(n)
      readSync(this.fd, hb, 0, n, 8)
      let header: Record<string, unknown>
      try {
        header = JSON.parse(hb.toString('utf8')) as Record<string, unknown>
      } catch (e) {
        throw new SafetensorsError(path, `header is not valid JSON: ${(e as Error).message}`)
      }
      this.dataStart = 8 + n
      const dataLen = size - this.dataStart
      this.metadata = (header.__metadata__ as Record<string, string>) ?? {}
      this.tensors = {}
      for (const [name, v] of Object.entries(header)) {
        if (name === '__metadata__') continue
        const info = v as TensorInfo
        const per = BYTES[info.dtype]
        if (per === undefined) throw new SafetensorsError(path, `tensor ${name}: unknown dtype ${info.dtype}`)
        const count = info.shape.reduce((a, b) => a * b, 1)
        const [b, e] = info.data_offsets
        if (!(b >= 0 && e >= b && e <= dataLen)) throw new SafetensorsError(path, `tensor ${name}: data_offsets [${b}, ${e}] outside the data (${dataLen} bytes)`)
        if (e - b !== count * per) throw new SafetensorsError(path, `tensor ${name}: ${e - b} bytes for ${info.dtype} [${info.shape.join(', ')}] (needs ${count * per})`)
        this.tensors[name] = info
      }
    } catch (e) {
      closeSync(this.fd)
      this.fd = null
      throw e
    }
  }

  names(): string[] {
    return Object.keys(this.tensors)
  }

  /** Raw bytes of one tensor, in a fresh (aligned) buffer. */
  rawBytes(name: string): Uint8Array {
    const info = this.tensors[name]
    if (!info) throw new SafetensorsError(this.path, `no tensor named ${name}`)
    if (this.fd === null) throw new SafetensorsError(this.path, 'file is closed')
    const [b, e] = info.data_offsets
    const out = new Uint8Array(new ArrayBuffer(e - b))
    let done = 0
    while (done < out.length) {
      const n = readSync(this.fd, out, done, Math.min(out.length - done, 1 << 30), this.dataStart + b + done)
      if (n <= 0) throw new SafetensorsError(this.path, `tensor ${name}: unexpected end of file`)
      done += n
    }
    return out
  }

  /** One tensor as float32 (F32 as read; F16, BF16 and F64 converted). */
  read(name: string): Tensor {
    const info = this.tensors[name]
    if (!info) throw new SafetensorsError(this.path, `no tensor named ${name}`)
    if (info.dtype === 'BF16') return new Tensor('float32', this.readBf16InPlace(info), info.shape)
    const raw = this.rawBytes(name)
    return new Tensor('float32', toFloat32(raw, info.dtype, `${this.path}: ${name}`), info.shape)
  }

  /**
   * BF16 → float32 with no second buffer: the 2-byte values are read into the upper half of the float32
   * array's memory and widened front to back (each write lands below every value still to be read).
   */
  private readBf16InPlace(info: TensorInfo): Float32Array {
    if (this.fd === null) throw new SafetensorsError(this.path, 'file is closed')
    const [b, e] = info.data_offsets
    const n = (e - b) / 2
    const out = new Float32Array(n)
    const bytes = new Uint8Array(out.buffer)
    let done = 0
    while (done < 2 * n) {
      const k = readSync(this.fd, bytes, 2 * n + done, Math.min(2 * n - done, 1 << 30), this.dataStart + b + done)
      if (k <= 0) throw new SafetensorsError(this.path, 'unexpected end of file')
      done += k
    }
    const src = new Uint16Array(out.buffer)
    const bits = new Uint32Array(out.buffer)
    for (let i = 0; i < n; i++) bits[i] = src[n + i]! << 16
    return out
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd)
    this.fd = null
  }
}

function toFloat32(raw: Uint8Array, dtype: string, what: string): Float32Array {
  switch (dtype) {
    case 'F32':
      return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4)
    case 'F64':
      return Float32Array.from(new Float64Array(raw.buffer, raw.byteOffset, raw.byteLength / 8))
    case 'F16': {
      const src = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2)
      const out = new Float32Array(src.length)
      for (let i = 0; i < src.length; i++) out[i] = f16BitsToF32(src[i]!)
      return out
    }
    default:
      throw new Error(`${what}: dtype ${dtype} is not a float type`)
  }
}

function encode(t: Tensor, dtype: StorageDType): Uint8Array {
  const src = t.floats()
  if (dtype === 'F32') {
    const f = src instanceof Float32Array ? src : Float32Array.from(src)
    return new Uint8Array(f.buffer, f.byteOffset, f.byteLength)
  }
  if (dtype === 'F64') {
    const f = Float64Array.from(src)
    return new Uint8Array(f.buffer)
  }
  const out = new Uint16Array(src.length)
  const conv = dtype === 'BF16' ? f32ToBf16Bits : f32ToF16Bits
  for (let i = 0; i < src.length; i++) out[i] = conv(src[i]!)
  return new Uint8Array(out.buffer)
}

/** Writes tensors to one safetensors file (atomically), in `dtype`, names in sorted order. */
export function writeSafetensors(path: string, tensors: Record<string, Tensor>, opts: { dtype?: StorageDType; metadata?: Record<string, string> } = {}): number {
  const dtype = opts.dtype ?? 'F32'
  const names = Object.keys(tensors).sort()
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', ...opts.metadata } }
  let offset = 0
  for (const n of names) {
    const t = tensors[n]!
    const bytes = t.size * BYTES[dtype]!
    header[n] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] }
    offset += bytes
  }
  let json = JSON.stringify(header)
  const pad = (8 - ((8 + Buffer.byteLength(json)) % 8)) % 8
  json += ' '.repeat(pad)
  const hb = Buffer.from(json, 'utf8')
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(hb.length))
  const w = new AtomicWriter(path)
  try {
    w.write(len)
    w.write(hb)
    for (const n of names) w.write(encode(tensors[n]!, dtype))
    w.commit()
  } catch (e) {
    w.abort()
    throw e
  }
  return 8 + hb.length + offset
}

export const INDEX_FILE = 'model.safetensors.index.json'
export const SINGLE_FILE = 'model.safetensors'

/** The safetensors files of a model directory and which file holds each tensor (single file or sharded index). */
export function weightFiles(dir: string): { files: string[]; weightMap: Record<string, string> | null } {
  const index = join(dir, INDEX_FILE)
  if (existsSync(index)) {
    let parsed: { weight_map?: Record<string, string> }
    try {
      parsed = JSON.parse(readFileSync(index, 'utf8')) as typeof parsed
    } catch (e) {
      throw new SafetensorsError(index, `not valid JSON: ${(e as Error).message}`)
    }
    if (!parsed.weight_map) throw new SafetensorsError(index, 'no "weight_map"')
    const files = [...new Set(Object.values(parsed.weight_map))].sort()
    return { files: files.map((f) => join(dir, f)), weightMap: parsed.weight_map }
  }
  const single = join(dir, SINGLE_FILE)
  if (!existsSync(single)) throw new SafetensorsError(dir, `no ${SINGLE_FILE} or ${INDEX_FILE}`)
  return { files: [single], weightMap: null }
}

/** Reads every tensor of a model directory as float32, one tensor at a time. */
/** `dtypes` gives each tensor's stored dtype. */
export function readWeights(dir: string): { weights: Record<string, Tensor>; dtypes: Record<string, string> } {
  const { files, weightMap } = weightFiles(dir)
  const weights: Record<string, Tensor> = {}
  const dtypes: Record<string, string> = {}
  for (const f of files) {
    const st = new SafetensorsFile(f)
    try {
      for (const n of st.names()) {
        if (weightMap && join(dir, weightMap[n] ?? '') !== f) throw new SafetensorsError(f, `tensor ${n} is not listed for this file in ${INDEX_FILE}`)
        if (n in weights) throw new SafetensorsError(f, `tensor ${n} appears in two files`)
        weights[n] = st.read(n)
        dtypes[n] = st.tensors[n]!.dtype
      }
    } finally {
      st.close()
    }
  }
  if (weightMap) for (const n of Object.keys(weightMap)) if (!(n in weights)) throw new SafetensorsError(join(dir, INDEX_FILE), `lists ${n}, which no shard holds`)
  return { weights, dtypes }
}

/**
 * Writes weights as model.safetensors, or as shards of at most `maxShardBytes` with the
 * model.safetensors.index.json that transformers and vLLM read.
 */
export function writeWeights(dir: string, weights: Record<string, Tensor>, opts: { dtype?: StorageDType; maxShardBytes?: number } = {}): string[] {
  const dtype = opts.dtype ?? 'F32'
  const per = BYTES[dtype]!
  const names = Object.keys(weights).sort()
  const total = names.reduce((a, n) => a + weights[n]!.size * per, 0)
  const max = opts.maxShardBytes ?? Infinity
  if (total <= max) {
    writeSafetensors(join(dir, SINGLE_FILE), weights, { dtype })
    return [SINGLE_FILE]
  }
  const shards: string[][] = [[]]
  let size = 0
  for (const n of names) {
    const b = weights[n]!.size * per
    if (size > 0 && size + b > max) {
      shards.push([])
      size = 0
    }
    shards[shards.length - 1]!.push(n)
    size += b
  }
  const pad = (k: number) => String(k).padStart(5, '0')
  const weightMap: Record<string, string> = {}
  const files = shards.map((list, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`
    writeSafetensors(join(dir, file), Object.fromEntries(list.map((n) => [n, weights[n]!])), { dtype })
    for (const n of list) weightMap[n] = file
    return file
  })
  writeFileAtomic(join(dir, INDEX_FILE), `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`)
  return [...files, INDEX_FILE]
}
