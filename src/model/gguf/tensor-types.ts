import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../engine/tensor.js'

/**
 * The ggml tensor types medrl writes and reads, as a registry: each with its id in ggml, its block
 * (values per block, bytes per block) and its encoder and decoder. Q8_0 is ggml's 8-bit format: blocks of
 * 32 values, one fp16 scale d = max|x| / 127 and 32 signed bytes round(x / d).
 */
export interface TensorType {
  id: number
  blockSize: number
  blockBytes: number
  encode(x: Float32Array): Uint8Array
  decode(b: Uint8Array): Float32Array
}

const halves = (x: Float32Array, conv: (v: number) => number): Uint8Array => {
  const out = new Uint16Array(x.length)
  for (let i = 0; i < x.length; i++) out[i] = conv(x[i]!)
  return new Uint8Array(out.buffer)
}
const fromHalves = (b: Uint8Array, conv: (h: number) => number): Float32Array => {
  const src = new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
  const out = new Float32Array(src.length)
  for (let i = 0; i < src.length; i++) out[i] = conv(src[i]!)
  return out
}

/** Rounds half away from zero, as C's roundf (which ggml's reference quantizer uses). */
const roundf = (v: number) => (v < 0 ? -Math.round(-v) : Math.round(v))

function encodeQ8_0(x: Float32Array): Uint8Array {
  const blocks = x.length / 32
  const out = new Uint8Array(blocks * 34)
  const view = new DataView(out.buffer)
  for (let b = 0; b < blocks; b++) {
    let amax = 0
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]!))
    const d = amax / 127
    const id = d !== 0 ? 1 / d : 0
    view.setUint16(b * 34, f32ToF16Bits(d), true)
    for (let i = 0; i < 32; i++) view.setInt8(b * 34 + 2 + i, roundf(x[b * 32 + i]! * id))
  }
  return out
}

function decodeQ8_0(b: Uint8Array): Float32Array {
  const blocks = b.length / 34
  const out = new Float32Array(blocks * 32)
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
  for (let k = 0; k < blocks; k++) {
    const d = f16BitsToF32(view.getUint16(k * 34, true))
    for (let i = 0; i < 32; i++) out[k * 32 + i] = d * view.getInt8(k * 34 + 2 + i)
  }
  return out
}

export const TENSOR_TYPES = {
  F32: {
    id: 0,
    blockSize: 1,
    blockBytes: 4,
    encode: (x: Float32Array) => new Uint8Array(x.buffer, x.byteOffset, x.byteLength),
    decode: (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)),
  },
  F16: { id: 1, blockSize: 1, blockBytes: 2, encode: (x: Float32Array) => halves(x, f32ToF16Bits), decode: (b: Uint8Array) => fromHalves(b, f16BitsToF32) },
  Q8_0: { id: 8, blockSize: 32, blockBytes: 34, encode: encodeQ8_0, decode: decodeQ8_0 },
  BF16: { id: 30, blockSize: 1, blockBytes: 2, encode: (x: Float32Array) => halves(x, f32ToBf16Bits), decode: (b: Uint8Array) => fromHalves(b, bf16BitsToF32) },
} satisfies Record<string, TensorType>

export type TensorTypeName = keyof typeof TENSOR_TYPES

export function tensorTypeById(id: number): TensorTypeName | undefined {
  return (Object.keys(TENSOR_TYPES) as TensorTypeName[]).find((k) => TENSOR_TYPES[k].id === id)
}

/** general.file_type: llama.cpp's "mostly" type of the file, by the type of its large matrices. */
export const FILE_TYPE: Record<TensorTypeName, number> = { F32: 0, F16: 1, Q8_0: 7, BF16: 32 }
