import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { getLoader, registerLoader, listLoaders } from '../../src/data/loaders/registry.js'
import { getPolicyLoss, registerPolicyLoss } from '../../src/rl/losses.js'
import { Registry } from '../../src/util/registry.js'

describe('Registry', () => {
  it('keeps items in registration order, refuses a second item under a name, and lists the known names for an unknown one', () => {
    const r = new Registry<number>('a widget', 'widget')
    r.register('one', 1)
    r.register('two', 2)
    assert.equal(r.get('two'), 2)
    assert.deepEqual(r.names(), ['one', 'two'])
    assert.deepEqual(r.values(), [1, 2])
    assert.throws(() => r.register('one', 3), /^Error: a widget named "one" is already registered$/)
    assert.equal(r.get('one'), 1)
    assert.throws(() => r.get('three'), /^Error: unknown widget "three"; known: one, two$/)
  })

  it('the loader and policy-loss registries keep their own wording', () => {
    assert.throws(() => getLoader('csv'), /^Error: unknown format "csv"; known formats: medrl, verl, /)
    assert.throws(() => registerLoader(listLoaders()[0]!), /^Error: a loader named "medrl" is already registered$/)
    assert.throws(() => getPolicyLoss('nope'), /^Error: unknown policy loss "nope"; known: vanilla, reinforce/)
    assert.throws(() => registerPolicyLoss('vanilla', getPolicyLoss('vanilla')), /^Error: a policy loss named "vanilla" is already registered$/)
  })
})
