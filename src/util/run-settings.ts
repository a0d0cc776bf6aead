import { existsSync, readFileSync } from 'node:fs'
import { writeFileAtomic } from './atomic.js'

/**
 * Guards a resumable output: the first run records its settings in `path`; a later run into the same output
 * must have the same ones, else it would continue (and mix in) results made with another model or config.
 * Throws an error naming the file and the settings that differ.
 */
export function checkRunSettings(path: string, settings: Record<string, unknown>, what: string): void {
  const now = JSON.parse(JSON.stringify(settings)) as Record<string, unknown>
  if (existsSync(path)) {
    let before: Record<string, unknown>
    try {
      before = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
    } catch (e) {
      throw new Error(`${path}: unreadable settings of an earlier ${what} (${(e as Error).message}); delete it or use another output`)
    }
    const keys = [...new Set([...Object.keys(before), ...Object.keys(now)])]
    const differ = keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(now[k]))
    if (differ.length > 0) {
      const show = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v))
      throw new Error(
        `${path}: this output holds an earlier ${what} with other settings (${differ.map((k) => `${k}: ${show(before[k])} then, ${show(now[k])} now`).join('; ')}); ` +
          'resuming would mix their results. Use another output, or delete it to start over',
      )
    }
    return
  }
  writeFileAtomic(path, `${JSON.stringify(now, null, 2)}\n`)
}
