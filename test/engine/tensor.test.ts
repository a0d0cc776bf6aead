import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Tensor, bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/engine/tensor.js'

describe('tensors and storage formats', () => {
  it('bf16 conversion rounds to nearest even', () => {
    // 1 + 2^-8 is halfway between bf16 1.0 and 1 + 2^-7: ties go to the even mantissa (1.0).
    assert.equal(bf16BitsToF32(f32ToBf16Bits(1 + 2 ** -8)), 1)
    // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up to 1 + 2^-6.
    assert.equal(bf16BitsToF32(f32ToBf16Bits(1 + 3 * 2 ** -8)), 1 + 2 ** -6)
    assert.equal(bf16BitsToF32(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20)), 1 + 2 ** -7, 'above half rounds up')
    assert.equal(f32ToBf16Bits(-2), 0xc000)
    assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))))
    assert.equal(bf16BitsToF32(f32ToBf16Bits(Infinity)), Infinity)
  })

  it('fp16 round trip, subnormals, overflow', () => {
    for (const x of [0, 1, -2.5, 65504, 6.103515625e-5, 5.960464477539063e-8, 0.333251953125]) assert.equal(f16BitsToF32(f32ToF16Bits(x)), x)
    assert.equal(f16BitsToF32(f32ToF16Bits(1e6)), Infinity)
    assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00, 'tie to even')
    assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02)
  })

  it('views share data; shapes are checked', () => {
    const t = Tensor.f32([1, 2, 3, 4, 5, 6], [3, 2])
    const v = t.reshape([2, 3])
    ;(v.data as Float32Array)[0] = 9
    assert.equal(t.at(0), 9)
    assert.deepEqual([...t.slice0(1, 3).data], [3, 4, 5, 6])
    assert.throws(() => Tensor.f32([1, 2, 3], [2, 2]), /3 elements, shape \[2, 2\] needs 4/)
  })
})
