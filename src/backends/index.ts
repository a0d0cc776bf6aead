import { EmbeddedBackend } from './embedded.js'
import { OpenAIBackend } from './openai.js'
import type { Backend } from './types.js'

export interface BackendFlags {
  model?: string
  endpoint?: string
  apiKey?: string
  servedModel?: string
  concurrency?: number
  timeoutMs?: number
  maxBatch?: number
}

/** The backend a command's --model DIR or --endpoint URL names (exactly one of them). */
export function openBackend(f: BackendFlags): Backend {
  if ((f.model === undefined) === (f.endpoint === undefined)) throw new Error('give exactly one of --model DIR (embedded engine) and --endpoint URL (OpenAI-compatible server)')
  if (f.model !== undefined) return EmbeddedBackend.fromDir(f.model, { maxBatch: f.maxBatch })
  return new OpenAIBackend({ baseUrl: f.endpoint, apiKey: f.apiKey, model: f.servedModel, concurrency: f.concurrency, timeoutMs: f.timeoutMs })
}

export { EmbeddedBackend, OpenAIBackend }
export type { Backend }
