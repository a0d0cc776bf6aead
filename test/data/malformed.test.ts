import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { importFile } from '../../src/data/import.js'
import { DataError } from '../../src/data/errors.js'
import { FIXTURES, runCli, tempDir } from '../helpers.js'

const fx = (name: string) => join(FIXTURES, 'data', name)

/** Each failure kind: fixture, and what the error must name (file:line or record, field, reason). */
const CASES: { file: string; where: RegExp; field: string; reason: RegExp }[] = [
  { file: 'missing_answer.jsonl', where: /missing_answer\.jsonl:2: id "q2"/, field: 'label', reason: /missing/ },
  { file: 'answer_not_option.jsonl', where: /answer_not_option\.jsonl:2: id "q2"/, field: 'answer', reason: /answer "E" is not among the options A–D/ },
  { file: 'duplicate_letters.jsonl', where: /duplicate_letters\.jsonl:2: id "q2"/, field: 'question', reason: /share a letter/ },
  { file: 'duplicate_letters_list.jsonl', where: /duplicate_letters_list\.jsonl:1: id "Text-1"/, field: 'options[1].letter', reason: /duplicate option letter A/ },
  { file: 'empty_option.jsonl', where: /empty_option\.jsonl:2: id "q2"/, field: 'question', reason: /option B is empty/ },
  { file: 'broken_json.jsonl', where: /broken_json\.jsonl:2/, field: '(json)', reason: /not valid JSON/ },
  { file: 'wrong_type.jsonl', where: /wrong_type\.jsonl:2: id "q2"/, field: 'question', reason: /expected a string, got a list/ },
  { file: 'medqa_bad_answer.jsonl', where: /medqa_bad_answer\.jsonl:1/, field: 'answer', reason: /answer "C" is not among the options A–B/ },
  { file: 'huatuo_empty_option.json', where: /huatuo_empty_option\.json: record #1/, field: 'options.B', reason: /option text is empty/ },
  { file: 'gpqa_missing_column.csv', where: /gpqa_missing_column\.csv:3: id "rec2"/, field: 'Incorrect Answer 1', reason: /is empty/ },
]

describe('malformed input: a clear error naming file, line or record, and field', () => {
  for (const c of CASES) {
    it(c.file, async () => {
      const err = await importFile(fx(c.file)).then(
        () => null,
        (e: unknown) => e,
      )
      assert.ok(err instanceof DataError, `expected a DataError, got ${String(err)}`)
      assert.match(err.message, c.where)
      assert.equal(err.field, c.field)
      assert.match(err.reason, c.reason)
      assert.ok(err.message.includes(`field "${c.field}"`))
    })
  }

  it('the CLI stops on the first invalid record: exit 1, message with file, line and field, no output file', () => {
    const out = join(tempDir(), 'out.jsonl')
    const r = runCli(['data', 'import', fx('answer_not_option.jsonl'), '--out', out])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /answer_not_option\.jsonl:2: id "q2": field "answer": answer "E" is not among the options A–D/)
    assert.ok(!existsSync(out), 'nothing written')
  })

  it('--skip-invalid goes on and reports every skipped record with its reason', () => {
    const dir = tempDir()
    const out = join(dir, 'out.jsonl')
    const report = join(dir, 'report.json')
    const files = ['missing_answer.jsonl', 'broken_json.jsonl', 'empty_option.jsonl', 'gpqa_missing_column.csv'].map(fx)
    const r = runCli(['data', 'import', ...files, '--skip-invalid', '--out', out, '--report', report])
    assert.equal(r.code, 1, 'ids collide across these fixtures (q1 in three files), which is refused')
    assert.match(r.stderr, /two records share this id/)
    const ok = runCli(['data', 'import', fx('broken_json.jsonl'), '--skip-invalid', '--out', out, '--report', report])
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stderr, /2 records .*1 invalid skipped/)
    assert.match(ok.stderr, /skipped: .*broken_json\.jsonl:2: field "\(json\)": not valid JSON/)
    assert.equal(readFileSync(out, 'utf8').trimEnd().split('\n').length, 2)
    const rep = JSON.parse(readFileSync(report, 'utf8'))
    assert.equal(rep.files[0].skipped.length, 1)
    assert.equal(rep.files[0].skipped[0].field, '(json)')
  })

  it('library --skip-invalid: every bad record in a file is reported, the good ones kept', async () => {
    const r = await importFile(fx('gpqa_missing_column.csv'), { skipInvalid: true })
    assert.equal(r.records.length, 1)
    assert.equal(r.files[0]!.skipped.length, 1)
    assert.equal(r.files[0]!.skipped[0]!.location.endsWith('gpqa_missing_column.csv:3: id "rec2"'), true)
  })

  it('an unknown layout asks for --format and lists the known ones', async () => {
    const dir = tempDir()
    const f = join(dir, 'odd.jsonl')
    const { writeFileSync } = await import('node:fs')
    writeFileSync(f, '{"foo": 1}\n')
    const r = runCli(['data', 'import', f, '--out', join(dir, 'x.jsonl')])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /odd\.jsonl:1: field "\(format\)": no known layout has these fields \(foo\); name one with --format \(medrl, verl/)
  })

  it('a named --format that does not fit the file fails on the field it needs', async () => {
    const r = runCli(['data', 'import', fx('missing_answer.jsonl'), '--format', 'medqa', '--out', join(tempDir(), 'x.jsonl')])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /missing_answer\.jsonl:1: id "q1": field "options": missing/)
  })
})
