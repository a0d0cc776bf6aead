import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { mergeAdapterDir } from '../model/files.js'
import { isAdapterDir } from '../model/lora.js'
import { EmbeddedBackend } from './embedded.js'
import { OpenAIBackend } from './openai.js'
import type { Backend } from './types.js'
import { startVllm, type VllmSettings } from './vllm.js'

/** How a model is served to whoever asks it questions (difficulty levels, evaluation). */
export type Serving =
  /** The embedded engine, in this process. */
  | { server: 'embedded' }
  /** vLLM servers medrl starts on the model and stops when done. */
  | { server: 'vllm'; vllm: VllmSettings }
  /** OpenAI-compatible servers already serving the model. */
  | { server: 'endpoint'; urls: string[]; servedModelName?: string; apiKey?: string }

/** A model being served, with the backend that asks it and what stops the serving. */
export interface ServedBackend {
  backend: Backend
  close(): Promise<void>
}

/** Serves `model` (a Hugging Face directory, or a hub id for vLLM) as `how` says; close() stops what was started. */
export async function serveModel(model: string, how: Serving, o: { name: string; logDir: string; seed?: number; info?: (m: string) => void }): Promise<ServedBackend> {
  if (how.server === 'embedded') {
    const backend = EmbeddedBackend.fromDir(model)
    return { backend, close: () => backend.close() }
  }
  if (how.server === 'vllm') {
    // vLLM serves a whole model: a LoRA adapter directory is merged into its base first (once, beside the logs).
    const dir = isAdapterDir(model) ? mergedOnce(model, join(o.logDir, 'merged')) : model
    const served = await startVllm(dir, how.vllm, { name: o.name, logDir: o.logDir, seed: o.seed, info: o.info })
    return { backend: served.backend, close: () => served.close() }
  }
  const backend = new OpenAIBackend({ baseUrl: how.urls.join(','), model: how.servedModelName, apiKey: how.apiKey })
  return { backend, close: () => backend.close() }
}

function mergedOnce(adapter: string, out: string): string {
  if (!existsSync(join(out, 'config.json'))) mergeAdapterDir(adapter, out)
  return out
}
