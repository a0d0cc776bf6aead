import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { AtomicWriter, writeFileAtomic } from '../../src/util/atomic.js'
import { Rng, hashString53 } from '../../src/util/rng.js'
import { tempDir } from '../helpers.js'

describe('Rng', () => {
  it('same seed, same stream; other seed, other stream; state restores exactly', () => {
    const a = new Rng(42)
    const b = new Rng(42)
    const xs = Array.from({ length: 100 }, () => a.next())
    assert.deepEqual(xs, Array.from({ length: 100 }, () => b.next()))
    assert.notDeepEqual(xs, Array.from({ length: 100 }, () => new Rng(43).next()))
    const state = a.getState()
    const next = Array.from({ length: 10 }, () => a.nextU32())
    const c = new Rng(0)
    c.setState(state)
    assert.deepEqual(Array.from({ length: 10 }, () => c.nextU32()), next)
  })

  it('int is uniform enough and in range; shuffle is a permutation', () => {
    const r = new Rng(1)
    const counts = new Array(10).fill(0)
    for (let i = 0; i < 100_000; i++) counts[r.int(10)]++
    for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `bucket ${c}`)
    const p = r.shuffle([...Array(50).keys()])
    assert.deepEqual([...p].sort((x, y) => x - y), [...Array(50).keys()])
  })

  it('hashString53 gives no collisions over 300k distinct n-gram-like strings', () => {
    const seen = new Set<number>()
    for (let i = 0; i < 300_000; i++) seen.add(hashString53(`word${i} other ${i * 7} tail`))
    assert.equal(seen.size, 300_000)
  })
})

describe('atomic writes', () => {
  it('the file appears only at commit; abort leaves nothing behind', () => {
    const dir = tempDir()
    const path = join(dir, 'out.jsonl')
    const w = new AtomicWriter(path)
    w.write('partial\n')
    assert.deepEqual(readdirSync(dir).filter((f) => f === 'out.jsonl'), [])
    w.commit()
    assert.equal(readFileSync(path, 'utf8'), 'partial\n')
    const w2 = new AtomicWriter(path)
    w2.write('replacement')
    w2.abort()
    assert.equal(readFileSync(path, 'utf8'), 'partial\n', 'old content intact')
    assert.deepEqual(readdirSync(dir), ['out.jsonl'], 'no temporary file left')
    writeFileAtomic(path, 'new')
    assert.equal(readFileSync(path, 'utf8'), 'new')
  })
})
