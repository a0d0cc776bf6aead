import cliProgress from 'cli-progress'

/** Progress with count, rate and ETA on a terminal; silent when stderr is not one (logs, CI, pipes). */
export class Progress {
  private bar: cliProgress.SingleBar | null = null
  private readonly t0 = Date.now()

  constructor(
    readonly label: string,
    readonly total: number,
    readonly unit = 'items',
    enabled = process.stderr.isTTY === true,
  ) {
    if (!enabled) return
    this.bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted}{extra}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    )
    this.bar.start(total, 0, { rate: '0.0', extra: '' })
  }

  update(done: number, extra = ''): void {
    if (!this.bar) return
    const secs = (Date.now() - this.t0) / 1000
    this.bar.update(done, { rate: (done / Math.max(secs, 1e-3)).toFixed(1), extra: extra ? ` | ${extra}` : '' })
  }

  stop(): void {
    this.bar?.stop()
    this.bar = null
  }
}
