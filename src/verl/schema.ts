import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import YAML from 'yaml'

/** The verl release medrl's bridge targets; its resolved trainer config ships in data/verl-0.9.0/. */
export const VERL_VERSION = '0.9.0'
export const VERL_PIP = 'verl==0.9.1'
export const VERL_SCHEMA_PATH = resolve(import.meta.dirname, '..', '..', 'data', `verl-${VERL_VERSION}`, 'ppo_trainer.yaml')

let cached: Record<string, unknown> | undefined

/** verl's fully resolved trainer config: every key `main_ppo` accepts, with its default. */
export function verlSchema(): Record<string, unknown> {
  cached ??= YAML.parse(readFileSync(VERL_SCHEMA_PATH, 'utf8')) as Record<string, unknown>
  return cached
}

/** The default at a dotted path, or `undefined` when verl has no such key. */
export function verlDefault(path: string, schema = verlSchema()): { found: boolean; value?: unknown } {
  let o: unknown = schema
  for (const k of path.split('.')) {
    if (o === null || typeof o !== 'object' || Array.isArray(o) || !Object.hasOwn(o, k)) return { found: false }
    o = (o as Record<string, unknown>)[k]
  }
  return { found: true, value: o }
}

/** A Hydra value: numbers, booleans, null and lists as themselves, strings quoted when Hydra's grammar needs it. */
export function hydraValue(v: unknown): string {
  if (v === null) return 'null'
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`a Hydra value must be finite, got ${v}`)
    return String(v)
  }
  if (Array.isArray(v)) return `[${v.map(hydraValue).join(',')}]`
  if (typeof v === 'string') {
    // Unquoted strings that Hydra would read as another type (true, null, 1e-3) or that hold grammar characters are quoted.
    if (/^[A-Za-z_/~][A-Za-z0-9_\-/.:~@]*$/.test(v) && !/^(true|false|null|nan|inf)$/i.test(v)) return v
    // Hydra's quoted strings: backslashes are special only before a quote or at the end, where they are doubled.
    return `'${v.replace(/(\\*)('|$)/g, (_, bs: string, q: string) => bs + bs + (q === "'" ? "\\'" : ''))}'`
  }
  throw new Error(`no Hydra form for ${JSON.stringify(v)}`)
}

/** One override line split into its prefix (+, ++, ~), key and value text. */
export function parseOverride(line: string): { prefix: '' | '+' | '++' | '~'; key: string; value: string | undefined } {
  const m = /^(\+\+|\+|~)?([A-Za-z_][\w.'-]*)(?:=(.*))?$/s.exec(line.trim())
  if (!m) throw new Error(`"${line}": not a Hydra override (write key.path=value, +key.path=value to add a key)`)
  const prefix = (m[1] ?? '') as '' | '+' | '++' | '~'
  if (prefix !== '~' && m[3] === undefined) throw new Error(`"${line}": no value (write ${m[2]}=value)`)
  return { prefix, key: m[2]!, value: m[3] }
}

/**
 * Checks overrides as Hydra would against verl's schema, before anything is launched: a plain key must exist,
 * `+key` must not (it adds one), `~key` must exist, `++key` either; a boolean default takes a boolean. Throws
 * naming the first override verl 0.9 would refuse.
 */
export function checkOverrides(lines: readonly string[], where = 'overrides'): void {
  for (const line of lines) {
    const o = parseOverride(line)
    const d = verlDefault(o.key)
    if ((o.prefix === '' || o.prefix === '~') && !d.found) {
      throw new Error(`${where}: verl ${VERL_VERSION} has no key "${o.key}" (in "${line}"); write +${o.key}=… to add a new key`)
    }
    if (o.prefix === '+' && d.found) throw new Error(`${where}: "${line}": verl ${VERL_VERSION} already has "${o.key}"; drop the +`)
    if (o.prefix === '' && typeof d.value === 'boolean' && !/^(true|false)$/i.test(o.value!.trim())) {
      throw new Error(`${where}: "${line}": ${o.key} takes true or false`)
    }
  }
}
