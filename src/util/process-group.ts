import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs'
import { writeFileAtomic } from './atomic.js'

/**
 * A program medrl starts and owns (verl, vLLM servers): it runs in a process group of its own, so stopping it
 * stops everything it started (Ray, torchrun's ranks, vLLM's engine processes), and its output goes to a log
 * file. While any group runs, SIGINT and SIGTERM stop every group before medrl exits, and medrl's own exit
 * takes them down too: nothing keeps a GPU after medrl is gone.
 */
export class ProcessGroup {
  readonly child: ChildProcess
  readonly pgid: number
  readonly exited: Promise<number>
  private code: number | null = null
  private onStop: (() => void) | undefined

  private constructor(
    readonly label: string,
    readonly logFile: string,
    child: ChildProcess,
    private readonly pidFile: string | undefined,
  ) {
    this.child = child
    this.pgid = child.pid!
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.code = code ?? 128 + (signal ? signalNumber(signal) : 1)
        running.delete(this)
        if (this.pidFile) rmSync(this.pidFile, { force: true })
        resolve(this.code)
      }),
    )
  }

  /**
   * Starts `command args` in a new process group, output appended to `logFile`; `pidFile` records it while it
   * runs; `onStop` runs before the group is signalled (e.g. to stop what it started elsewhere: a Ray job).
   */
  static start(label: string, command: string, args: readonly string[], o: { env?: NodeJS.ProcessEnv; logFile: string; pidFile?: string; cwd?: string; onStop?: () => void }): ProcessGroup {
    if (o.pidFile) refuseStale(o.pidFile, label)
    const fd = openSync(o.logFile, 'a')
    let child: ChildProcess
    try {
      child = spawn(command, [...args], { env: o.env ?? process.env, cwd: o.cwd, detached: true, stdio: ['ignore', fd, fd] })
    } finally {
      closeSync(fd)
    }
    child.on('error', () => {}) // a failed start is reported below, a failed exec as an exit code
    if (child.pid === undefined) throw new Error(`${label}: cannot run ${command}: not found on PATH (${(o.env ?? process.env).PATH ?? ''})`)
    const g = new ProcessGroup(label, o.logFile, child, o.pidFile)
    g.onStop = o.onStop
    if (o.pidFile) writeFileAtomic(o.pidFile, `${JSON.stringify({ pgid: g.pgid, start_ticks: startTicks(g.pgid), command: [command, ...args].join(' '), started: new Date().toISOString() })}\n`)
    running.add(g)
    installSignalHandlers()
    return g
  }

  get running(): boolean {
    return this.code === null
  }

  /** SIGTERM to the whole group, SIGKILL after `graceMs`; resolves when the leader has exited. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return
    try {
      this.onStop?.()
    } catch {
      // the group is stopped all the same
    }
    signalGroup(this.pgid, 'SIGTERM')
    const timer = setTimeout(() => signalGroup(this.pgid, 'SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
    // Whatever the leader left behind in its group goes too.
    signalGroup(this.pgid, 'SIGKILL')
  }

  /** The last lines of the log, for an error message. */
  tail(lines = 15): string {
    if (!existsSync(this.logFile)) return ''
    return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  }
}

const running = new Set<ProcessGroup>()
let handlersInstalled = false

function signalNumber(s: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[s] ?? 1
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // already gone
  }
}

/** Every running group, stopped (for signal handlers and tests). */
export async function stopAllProcessGroups(graceMs = 15_000): Promise<void> {
  await Promise.all([...running].map((g) => g.stop(graceMs)))
}

function installSignalHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (running.size === 0) process.exit(128 + signalNumber(sig))
      process.stderr.write(`${sig}: stopping ${[...running].map((g) => g.label).join(', ')}\n`)
      void stopAllProcessGroups().finally(() => process.exit(128 + signalNumber(sig)))
    })
  }
  // A crash or an exit with groups still running: they go with medrl (no time to wait here).
  process.on('exit', () => {
    for (const g of running) signalGroup(g.pgid, 'SIGKILL')
  })
}

/**
 * Stops the group a pid file records, if it still runs (it is the process recorded: same start time), and removes
 * the file. For groups that are safe to stop from a later medrl: the `ray job submit` that only tails a Ray job.
 */
export async function stopRecordedGroup(pidFile: string, graceMs = 10_000): Promise<void> {
  if (!existsSync(pidFile)) return
  let rec: { pgid?: number; start_ticks?: number | null }
  try {
    rec = JSON.parse(readFileSync(pidFile, 'utf8')) as typeof rec
  } catch {
    rec = {}
  }
  if (typeof rec.pgid === 'number' && groupAlive(rec.pgid, rec.start_ticks ?? null)) {
    signalGroup(rec.pgid, 'SIGTERM')
    const deadline = Date.now() + graceMs
    while (Date.now() < deadline && groupAlive(rec.pgid, null)) await new Promise((r) => setTimeout(r, 100))
    signalGroup(rec.pgid, 'SIGKILL')
  }
  rmSync(pidFile, { force: true })
}

/**
 * A pid file left by an earlier medrl whose group still runs (medrl was killed hard): starting another copy would
 * have two writers in one run directory, so it is refused, naming the group to stop.
 */
function refuseStale(pidFile: string, label: string): void {
  if (!existsSync(pidFile)) return
  let rec: { pgid?: number; start_ticks?: number | null; started?: string }
  try {
    rec = JSON.parse(readFileSync(pidFile, 'utf8')) as typeof rec
  } catch {
    rmSync(pidFile, { force: true })
    return
  }
  if (typeof rec.pgid === 'number' && groupAlive(rec.pgid, rec.start_ticks ?? null)) {
    throw new Error(`${label}: an earlier ${label} in this run (process group ${rec.pgid}, started ${rec.started ?? '?'}) is still running; let it finish or stop it with \`kill -- -${rec.pgid}\`, then run again`)
  }
  rmSync(pidFile, { force: true })
}

/** When a process started, in clock ticks since boot (/proc/PID/stat field 22), or null where there is no /proc. */
function startTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
  } catch {
    return null
  }
}

/** Whether a process group still runs: some member answers, and its leader, if still there, is the process recorded (pids are reused). */
function groupAlive(pgid: number, ticks: number | null): boolean {
  try {
    process.kill(-pgid, 0)
  } catch {
    return false
  }
  const now = startTicks(pgid)
  return now === null || ticks === null || now === ticks
}
