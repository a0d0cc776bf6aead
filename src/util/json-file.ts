import { readFileSync } from 'node:fs'

/** A JSON file's value; a missing, unreadable or half-written file is an error naming the file. */
export function readJsonFile<T = unknown>(path: string, what = 'file'): T {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new Error(`${path}: cannot read this ${what}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`)
  }
  try {
    return JSON.parse(text) as T
  } catch (e) {
    throw new Error(`${path}: this ${what} is not valid JSON (${(e as Error).message}${text.length === 0 ? '; the file is empty' : ''}): was it cut off while being written?`)
  }
}
