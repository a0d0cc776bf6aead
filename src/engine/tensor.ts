/** Host tensors: typed arrays with a shape. Compute is fp32 (fp64 for gradient checks); bf16/fp16 are storage formats. */

export type FloatDType = 'float32' | 'float64'
export type DType = FloatDType | 'int64' | 'int32' | 'bool'

export type TypedData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array

export function sizeOf(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}

export class Tensor {
  readonly data: TypedData
  readonly shape: readonly number[]
  readonly dtype: DType

  constructor(dtype: DType, data: TypedData, shape: readonly number[]) {
    if (data.length !== sizeOf(shape)) throw new Error(`tensor data has ${data.length} elements, shape [${shape.join(', ')}] needs ${sizeOf(shape)}`)
    this.dtype = dtype
    this.data = data
    this.shape = shape
  }

  get size(): number {
    return this.data.length
  }

  static zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    const n = sizeOf(shape)
    const data = dtype === 'float32' ? new Float32Array(n) : dtype === 'float64' ? new Float64Array(n) : dtype === 'int64' ? new BigInt64Array(n) : dtype === 'int32' ? new Int32Array(n) : new Uint8Array(n)
    return new Tensor(dtype, data, shape)
  }

  static f32(data: Float32Array | readonly number[], shape: readonly number[]): Tensor {
    return new Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), shape)
  }

  static f64(data: Float64Array | readonly number[], shape: readonly number[]): Tensor {
    return new Tensor('float64', data instanceof Float64Array ? data : Float64Array.from(data), shape)
  }

  static i64(data: BigInt64Array | readonly (number | bigint)[], shape: readonly number[]): Tensor {
    return new Tensor('int64', data instanceof BigInt64Array ? data : BigInt64Array.from(data, (x) => BigInt(x)), shape)
  }

  /** The same data under another shape (a view: no copy). */
  reshape(shape: readonly number[]): Tensor {
    return new Tensor(this.dtype, this.data, shape)
  }

  /** Rows [start, end) of the first axis (a view: no copy). */
  slice0(start: number, end: number): Tensor {
    const row = sizeOf(this.shape.slice(1))
    return new Tensor(this.dtype, this.data.subarray(start * row, end * row), [end - start, ...this.shape.slice(1)])
  }

  clone(): Tensor {
    return new Tensor(this.dtype, this.data.slice(), this.shape)
  }

  /** The float data (throws for integer tensors). */
  floats(): Float32Array | Float64Array {
    if (this.data instanceof Float32Array || this.data instanceof Float64Array) return this.data
    throw new Error(`expected a float tensor, got ${this.dtype}`)
  }

  /** The element at a flat index, as a number. */
  at(i: number): number {
    return Number(this.data[i]!)
  }

  toFloat64(): Tensor {
    return new Tensor('float64', Float64Array.from(this.floats()), this.shape)
  }

  toFloat32(): Tensor {
    return new Tensor('float32', Float32Array.from(this.floats()), this.shape)
  }
}

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** fp32 → bf16 bits, rounding to nearest even (NaN stays NaN). */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x
  const bits = u32[0]!
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return ((bits >>> 16) | 0x40) & 0xffff
  const rounding = 0x7fff + ((bits >>> 16) & 1)
  return ((bits + rounding) >>> 16) & 0xffff
}

export function bf16BitsToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16
  return f32[0]!
}

/** fp16 bits → fp32 (subnormals, infinities and NaN included). */
export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1
  const e = (h >>> 10) & 0x1f
  const m = h & 0x3ff
  if (e === 0) return s * m * 2 ** -24
  if (e === 31) return m === 0 ? s * Infinity : NaN
  return s * (1 + m / 1024) * 2 ** (e - 15)
}

/** fp32 → fp16 bits, rounding to nearest even; overflow becomes infinity. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x
  const bits = u32[0]!
  const sign = (bits >>> 16) & 0x8000
  const exp = (bits >>> 23) & 0xff
  let mant = bits & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0)
  let e = exp - 127 + 15
  if (e >= 31) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    let half = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    const mid = 1 << (shift - 1)
    if (rem > mid || (rem === mid && (half & 1) === 1)) half++
    return sign | half
  }
  let half = (e << 10) | (mant >>> 13)
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++
  return sign | half
}
