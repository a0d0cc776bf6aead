import { InvalidArgumentError } from 'commander'

/** Parses an integer option, rejecting anything else with a message naming the option. */
export function intOption(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number, got "${v}"`)
    return n
  }
}

export function floatOption(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${v}"`)
    return n
  }
}

/** Comma-separated list option (repeatable). */
export function listOption(v: string, prev: string[] = []): string[] {
  return [...prev, ...v.split(',').map((s) => s.trim()).filter((s) => s !== '')]
}

/** Messages for people go to stderr, so stdout stays clean for data (JSON, tables piped elsewhere). */
export function info(msg: string): void {
  process.stderr.write(`${msg}\n`)
}
