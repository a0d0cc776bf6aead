import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'

/** Parses an integer option (at least `min` when given), rejecting anything else with a message naming the option. */
export function intOption(name: string, min?: number): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number, got "${v}"`)
    if (min !== undefined && n < min) throw new InvalidArgumentError(`${name} must be at least ${min}, got ${n}`)
    return n
  }
}

/** Parses a number option (at least `min` when given). */
export function floatOption(name: string, min?: number): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${v}"`)
    if (min !== undefined && n < min) throw new InvalidArgumentError(`${name} must be at least ${min}, got ${n}`)
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

/** --model DIR | --endpoint URL and the endpoint's options, shared by every command that generates. */
export function addBackendOptions(cmd: Command): Command {
  return cmd
    .option('--model <dir>', 'model directory (embedded engine)')
    .option('--endpoint <urls>', 'OpenAI-compatible base URL (…/v1); several, comma-separated, spread the requests (one vLLM server per GPU or node)')
    .option('--api-key <key>', 'API key for --endpoint (default: OPENAI_API_KEY)')
    .option('--served-model-name <name>', 'model name at --endpoint (default: the first it lists)')
    .option('--concurrency <n>', 'requests in flight for --endpoint', intOption('--concurrency'), 8)
}

/** The options every training command shares: a new run from a config, or a resumed one, with overrides. */
export interface RunFlags {
  config?: string
  out?: string
  resume?: string
  set?: string[]
}

export function addRunOptions(cmd: Command, setExample: string, writes: string): Command {
  return cmd
    .option('--config <file>', 'run config (YAML or JSON); see --help-config')
    .option('--out <dir>', `run directory (${writes})`)
    .option('--resume <dir>', 'continue a run from its last checkpoint (its config.yaml, plus any --set)')
    .option('--set <key=value...>', `override options, e.g. --set ${setExample}`, listOption)
}

/** The run directory and the config file of a new or resumed run; refuses a mix of the two. */
export function runConfigPath(f: RunFlags): { runDir: string; path: string } {
  if (f.resume && f.config) throw new Error('--resume takes the run’s own config.yaml; give --set to change options')
  const runDir = f.resume ?? f.out
  if (!runDir) throw new Error('give --out RUN_DIR (a new run) or --resume RUN_DIR')
  if (f.resume) {
    const path = join(f.resume, 'config.yaml')
    if (!existsSync(path)) throw new Error(`${f.resume}: no config.yaml (is this a run directory?)`)
    return { runDir, path }
  }
  if (!f.config) throw new Error('give --config FILE')
  return { runDir, path: f.config }
}
