/** Child process of the model bench: loads a model directory and reports time and peak RSS as JSON. */
import { loadModel } from '../src/model/files.js'

const dir = process.argv[2]!
const t0 = performance.now()
const m = loadModel(dir)
const seconds = (performance.now() - t0) / 1000
const params = Object.values(m.model.weights).reduce((a, t) => a + t.size, 0)
process.stdout.write(JSON.stringify({ seconds, params, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) }))
