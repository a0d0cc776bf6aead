import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { DATA, ROOT, tempDir } from '../helpers.js'

/** The README's "Use it from TypeScript" example, as a user's project would hold it. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const m = /## Use it from TypeScript[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)
  assert.ok(m, 'the README has the example')
  return m[1]!
}

describe('medrl as a library another project installs', () => {
  it('npm pack builds dist/ with declarations; plain Node runs the README example against the packed package, and tsc type-checks it', () => {
    const dir = tempDir('medrl-pack-')
    const pack = spawnSync('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 })
    assert.equal(pack.status, 0, pack.stderr)
    const info = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[]
    const files = info[0]!.files.map((f) => f.path)
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'data/references.json', 'data/verl-0.9.0/ppo_trainer.yaml', 'bin/medrl.js']) assert.ok(files.includes(f), `packed: ${f}`)
    // A user's project: the package unpacked in node_modules, its dependencies beside it.
    const proj = join(dir, 'proj')
    const pkgDir = join(proj, 'node_modules', 'medrl')
    mkdirSync(pkgDir, { recursive: true })
    assert.equal(spawnSync('tar', ['xzf', join(dir, info[0]!.filename), '-C', pkgDir, '--strip-components=1']).status, 0)
    const deps = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies)
    for (const d of [...deps, '@types/node', 'typescript']) {
      const target = join(proj, 'node_modules', d)
      mkdirSync(dirname(target), { recursive: true })
      symlinkSync(join(ROOT, 'node_modules', d), target)
    }
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'user-project', type: 'module', private: true }))
    const example = readmeExample().replaceAll('../shared/data', DATA)
    writeFileSync(join(proj, 'example.mjs'), example)
    const run = spawnSync(process.execPath, ['example.mjs'], { cwd: proj, encoding: 'utf8' })
    assert.equal(run.status, 0, run.stderr)
    assert.match(run.stdout, /^1000 records; reward 1, extracted [ABC]\n/)
    assert.match(run.stdout, /data\.train_batch_size/)
    // The same code as TypeScript, type-checked against the package's declarations.
    writeFileSync(join(proj, 'example.ts'), example)
    writeFileSync(join(proj, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['example.ts'] }))
    const tsc = spawnSync(process.execPath, [join(proj, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', proj], { cwd: proj, encoding: 'utf8' })
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr)
    assert.ok(readdirSync(join(pkgDir, 'dist')).includes('verl'))
  })
})
