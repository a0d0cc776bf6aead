import { spawnSync } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { writeFileAtomic } from '../util/atomic.js'
import { readJsonFile } from '../util/json-file.js'
import { ProcessGroup, stopRecordedGroup } from '../util/process-group.js'
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
export async function runVerlScript(script: string, verlDir: string, o: { env: NodeJS.ProcessEnv; follow?: () => Promise<void>; followSeconds?: number; info?: (m: string) => void; args?: string[]; rayAddress?: string; jobName?: string }): Promise<number> {
  const log = join(verlDir, 'verl.log')
  o.info?.(`verl: ${script} (log: ${log})`)
  const env = { ...o.env }
  let onStop: (() => void) | undefined
  if (o.rayAddress) {
    // A job on a Ray cluster outlives the `ray job submit` that tails it: it is stopped by its submission id.
    const jobFile = join(verlDir, 'ray-job.json')
    if (existsSync(jobFile)) {
      const earlier = readJsonFile<{ address: string; submission_id: string }>(jobFile, 'ray job')
      o.info?.(`stopping the Ray job an earlier medrl left on the cluster (${earlier.submission_id}), if it still runs`)
      stopRayJob(earlier.address, earlier.submission_id)
      // The `ray job submit` that tailed it, if medrl was killed too hard to stop it.
      await stopRecordedGroup(join(verlDir, 'verl.pid'))
    }
    const id = `medrl-${(o.jobName ?? basename(dirname(resolve(verlDir)))).replace(/[^\w.-]/g, '_')}-${Date.now().toString(36)}`
    env.MEDRL_RAY_SUBMISSION_ID = id
    writeFileAtomic(jobFile, `${JSON.stringify({ address: o.rayAddress, submission_id: id })}\n`)
    onStop = () => stopRayJob(o.rayAddress!, id)
  }
  const group = ProcessGroup.start('verl', 'bash', [script, ...(o.args ?? [])], { env, logFile: log, pidFile: join(verlDir, 'verl.pid'), onStop })
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
    const code = await group.exited
    if (o.rayAddress) rmSync(join(verlDir, 'ray-job.json'), { force: true })
    return code
  } finally {
    if (timer) clearInterval(timer)
  }
}

/** `ray job stop --address A ID` (Ray's job CLI): asks the cluster to end the job; a job already ended is left as it is. */
export function stopRayJob(address: string, id: string): void {
  spawnSync('ray', ['job', 'stop', `--address=${address}`, id], { stdio: 'ignore', timeout: 120_000 })
}
