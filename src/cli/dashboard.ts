import { Command } from 'commander'
import { Dashboard } from '../report/dashboard.js'
import { info, intOption } from './util.js'

export function dashboardCommand(): Command {
  return new Command('dashboard')
    .description('a live dashboard of runs in the browser (charts update while a run writes metrics)')
    .argument('[runs...]', 'run directories')
    .option('--runs-dir <dir>', 'also show every run under this directory', 'runs')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', intOption('--port', 0), 8080)
    .action(async (runs: string[], f: { runsDir: string; host: string; port: number }) => {
      const d = new Dashboard({ runs, runsDir: f.runsDir })
      const addr = await d.listen(f.port, f.host)
      const url = `http://${addr.address}:${addr.port}/`
      info(`dashboard at ${url}`)
      process.stdout.write(`${url}\n`)
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
      await d.close()
    })
}
