import type { GenEvent } from '../generate/generator.js'
import type { EmbeddedBackend } from '../backends/embedded.js'
import type { BackendCompletion, BackendRequest } from '../backends/types.js'

interface Job {
  requests: BackendRequest[]
  rows: number
  onEvent?: (requestInJob: number, e: GenEvent) => void
  resolve: (r: BackendCompletion[][]) => void
  reject: (e: Error) => void
}

/**
 * Batches concurrent requests: whatever arrived while the engine was busy runs together as one batched
 * generation when it frees up (per-request sampling settings, stop strings and lengths kept per row).
 */
export class Batcher {
  private readonly queue: Job[] = []
  private running = false
  readonly maxRows: number
  /** Batches run and requests served, for the server's stats. */
  batches = 0
  served = 0

  constructor(
    private readonly backend: EmbeddedBackend,
    maxRows = 64,
  ) {
    this.maxRows = maxRows
  }

  submit(requests: BackendRequest[], onEvent?: Job['onEvent']): Promise<BackendCompletion[][]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ requests, rows: requests.reduce((a, r) => a + (r.params.n ?? 1), 0), onEvent, resolve, reject })
      void this.pump()
    })
  }

  private async pump(): Promise<void> {
    if (this.running) return
    this.running = true
    try {
      while (this.queue.length > 0) {
        const jobs: Job[] = []
        let rows = 0
        while (this.queue.length > 0 && (jobs.length === 0 || rows + this.queue[0]!.rows <= this.maxRows)) {
          const j = this.queue.shift()!
          // A job whose client has gone before it started is dropped, never generated.
          if (j.requests.every((r) => r.signal?.aborted)) {
            j.reject(new Error('the client has gone'))
            continue
          }
          rows += j.rows
          jobs.push(j)
        }
        if (jobs.length === 0) continue
        const flat: BackendRequest[] = []
        const owner: { job: Job; index: number }[] = []
        for (const j of jobs) j.requests.forEach((r, index) => (flat.push(r), owner.push({ job: j, index })))
        try {
          // Per-token events only when some job streams (they cost an incremental decode per token).
          const streaming = jobs.some((j) => j.onEvent)
          const out = await this.backend.generateWithEvents(
            flat,
            {},
            streaming
              ? (e) => {
                  const o = owner[e.request]!
                  o.job.onEvent?.(o.index, e)
                }
              : undefined,
          )
          let k = 0
          for (const j of jobs) {
            j.resolve(out.slice(k, k + j.requests.length))
            k += j.requests.length
          }
          this.batches++
          this.served += jobs.length
        } catch (e) {
          for (const j of jobs) j.reject(e as Error)
        }
      }
    } finally {
      this.running = false
    }
  }
}
