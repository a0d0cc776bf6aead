import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { ProcessGroup } from '../util/process-group.js'
import { VERL_PIP, VERL_VERSION } from './schema.js'

/** The Python that runs verl (MEDRL_PYTHON, else python3 on PATH). */
export function verlPython(): string {
  return process.env.MEDRL_PYTHON ?? 'python3'
}

/** Throws one clear line when verl (or Ray) cannot be imported here. */
export function requireVerl(what: string, modules = ['verl', 'ray']): void {
  const py = verlPython()
  const r = spawnSync(py, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' })
  if (r.error || r.status !== 0) {
    const missing = r.error ? `${py} not found` : (r.stderr.trim().split('\n').pop() ?? 'import failed')
    throw new Error(`${what} needs verl ${VERL_VERSION}${modules.includes('ray') ? ' and Ray' : ''} in ${py} (${missing}): install them with \`pip install ${VERL_PIP}\` (with vLLM or SGLang) on the GPU machine; \`medrl verl prepare\` writes the same run without them`)
  }
}

/**
 * Runs a prepared verl script (run.sh) in a process group of its own, its output appended to verlDir/verl.log
 * and its group recorded in verlDir/verl.pid while it runs (a second medrl on the same run is refused while it
 * does). `follow` is called every `followSeconds` while it runs (the live ingest); a Ctrl-C or SIGTERM to medrl
 * stops the whole group. Resolves with verl's exit status.
 */
export async function runVerlScript(script: string, verlDir: string, o: { env: NodeJS.ProcessEnv; follow?: () => Promise<void>; followSeconds?: number; info?: (m: string) => void; args?: string[] }): Promise<number> {
  const log = join(verlDir, 'verl.log')
  o.info?.(`verl: ${script} (log: ${log})`)
  const group = ProcessGroup.start('verl', 'bash', [script, ...(o.args ?? [])], { env: o.env, logFile: log, pidFile: join(verlDir, 'verl.pid') })
  let reading = false
  const timer = o.follow
    ? setInterval(() => {
        if (reading) return
        reading = true
        // Files caught mid-write are read on the next pass.
        void o.follow!()
          .catch(() => {})
          .finally(() => (reading = false))
      }, (o.followSeconds ?? 10) * 1000)
    : null
  try {
    return await group.exited
  } finally {
    if (timer) clearInterval(timer)
  }
}
