import { metaValue, readGguf, type GgufScalar } from './format.js'

export interface GgufSummary {
  path: string
  version: number
  architecture: string
  name: string | null
  parameters: number
  tensors: number
  /** Tensor count per ggml type. */
  types: Record<string, number>
  vocab_size: number | null
  tokenizer: string | null
  chat_template: boolean
  fileBytes: number
  /** Every scalar key-value (arrays by their length). */
  metadata: Record<string, GgufScalar | string>
  lines: string[]
}

/** What `medrl model info FILE.gguf` prints: the header of a GGUF file, read back without loading tensors. */
export function ggufSummary(path: string): GgufSummary {
  const g = readGguf(path)
  const meta: Record<string, GgufScalar | string> = {}
  for (const [k, kv] of g.metadata) {
    const v = metaValue(g.metadata, k)
    meta[k] = Array.isArray(v) ? `[${kv.elem} × ${v.length}]` : typeof v === 'string' && v.length > 80 ? `${v.slice(0, 77)}…` : (v as GgufScalar)
  }
  const arch = String(metaValue(g.metadata, 'general.architecture') ?? 'unknown')
  const types: Record<string, number> = {}
  for (const t of g.tensors) types[t.type] = (types[t.type] ?? 0) + 1
  const parameters = g.tensors.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1), 0)
  const tokens = metaValue(g.metadata, 'tokenizer.ggml.tokens')
  const s = {
    path,
    version: g.version,
    architecture: arch,
    name: (metaValue(g.metadata, 'general.name') as string | undefined) ?? null,
    parameters,
    tensors: g.tensors.length,
    types,
    vocab_size: Array.isArray(tokens) ? tokens.length : null,
    tokenizer: (metaValue(g.metadata, 'tokenizer.ggml.model') as string | undefined) ?? null,
    chat_template: g.metadata.has('tokenizer.chat_template'),
    fileBytes: g.fileBytes,
    metadata: meta,
  }
  const lines = [
    `GGUF v${s.version}     ${path}`,
    `architecture   ${arch}${s.name ? ` (${s.name})` : ''}`,
    `parameters     ${parameters.toLocaleString('en')} in ${s.tensors} tensors (${Object.entries(types).map(([t, n]) => `${t} ×${n}`).join(', ')})`,
    `tokenizer      ${s.tokenizer ?? 'none'}${s.vocab_size !== null ? `, ${s.vocab_size} tokens` : ''}${s.tokenizer ? ` (pre ${meta['tokenizer.ggml.pre'] ?? 'default'})` : ''}${s.chat_template ? ', chat template' : ''}`,
    `file           ${s.fileBytes.toLocaleString('en')} bytes`,
    'metadata:',
    ...Object.entries(meta).map(([k, v]) => `  ${k.padEnd(44)} ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`),
  ]
  return { ...s, lines }
}
