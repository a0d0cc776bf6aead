import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'

const SAMPLE = 1 << 20

/**
 * A cheap identity of a Hugging Face model directory: config.json and, for every safetensors file, its size
 * and its first and last MiB (the header names every tensor and offset; the ends change with any retraining).
 * Resumable runs compare it, so that results of one checkpoint are never continued with another's.
 */
export function modelFingerprint(dir: string): string {
  const h = createHash('sha256')
  // A LoRA adapter directory is its adapter_config.json (which names its base) and its adapter tensors.
  const files = ['config.json', 'adapter_config.json', ...readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort()]
  for (const f of files) {
    const path = join(dir, f)
    if (!existsSync(path)) continue
    const fd = openSync(path, 'r')
    try {
      const size = fstatSync(fd).size
      h.update(`${f}\u0000${size}\u0000`)
      const head = Buffer.alloc(Math.min(SAMPLE, size))
      readSync(fd, head, 0, head.length, 0)
      h.update(head)
      const tail = Buffer.alloc(Math.min(SAMPLE, Math.max(0, size - head.length)))
      readSync(fd, tail, 0, tail.length, size - tail.length)
      h.update(tail)
    } finally {
      closeSync(fd)
    }
  }
  return h.digest('hex').slice(0, 16)
}
