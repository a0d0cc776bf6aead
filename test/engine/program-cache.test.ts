import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Graph } from '../../src/engine/graph.js'
import * as O from '../../src/engine/ops/index.js'
import { ProgramCache } from '../../src/engine/session.js'
import { Tensor } from '../../src/engine/tensor.js'

describe('program cache', () => {
  it('keeps at most `limit` programs, least recently used out first, each released once idle', async () => {
    const cache = new ProgramCache(2)
    const build = (n: number) => () => {
      const g = new Graph('float32')
      const x = g.input('x', [n])
      return { g, outputs: { y: O.mul(x, 2) } }
    }
    const p1 = await cache.get('1', build(1))
    await cache.get('2', build(2))
    assert.equal(await cache.get('1', build(1)), p1, 'a hit returns the same program')
    await cache.get('3', build(3)) // evicts "2", the least recently used
    assert.equal(cache.size, 2)
    assert.equal(await cache.get('1', build(1)), p1)
    const r = await p1.run({ x: Tensor.f32([3], [1]) })
    assert.deepEqual([...r.y!.data], [6])
    const p4 = await cache.get('4', build(4)) // evicts "3"
    await cache.get('5', build(5)) // evicts "1" (p1)
    await new Promise((res) => setTimeout(res, 10))
    await assert.rejects(p1.run({ x: Tensor.f32([3], [1]) }), /released/)
    assert.deepEqual([...(await p4.run({ x: Tensor.f32([1, 2, 3, 4], [4]) })).y!.data], [2, 4, 6, 8])
    await cache.releaseAll()
  })
})
