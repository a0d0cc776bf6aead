import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Tokenizer } from '@huggingface/tokenizers'
import { ChatTemplate, type ChatTemplateConfig } from './chat-template.js'

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`)
  }
}

function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content
  return null
}

/** A model's tokenizer (tokenizer.json + tokenizer_config.json) and its chat template, if it has one. */
export class TextTokenizer {
  private readonly tok: Tokenizer
  readonly config: Record<string, unknown>
  readonly chat: ChatTemplate | null

  constructor(tokenizerJson: Record<string, unknown>, config: Record<string, unknown>, chatTemplate?: string) {
    this.tok = new Tokenizer(tokenizerJson, config)
    this.config = config
    const tpl = chatTemplate ?? (config.chat_template as ChatTemplateConfig['chat_template'])
    this.chat = tpl ? new ChatTemplate({ ...(config as ChatTemplateConfig), chat_template: tpl }) : null
  }

  /** Loads tokenizer.json, tokenizer_config.json and (if present) chat_template.jinja from a model directory. */
  static fromDir(dir: string): TextTokenizer {
    const tj = join(dir, 'tokenizer.json')
    if (!existsSync(tj)) throw new Error(`${dir}: no tokenizer.json (a model runs from ids without one; text needs it)`)
    const cfgPath = join(dir, 'tokenizer_config.json')
    const cfg = existsSync(cfgPath) ? readJson(cfgPath) : {}
    const jinja = join(dir, 'chat_template.jinja')
    return new TextTokenizer(readJson(tj), cfg, existsSync(jinja) ? readFileSync(jinja, 'utf8') : undefined)
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    return this.tok.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false })
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token)
  }

  private special(key: string): number | null {
    const c = tokenContent(this.config[key])
    return c === null ? null : (this.tokenToId(c) ?? null)
  }

  get bosId(): number | null {
    return this.special('bos_token')
  }

  get eosId(): number | null {
    return this.special('eos_token')
  }

  get padId(): number | null {
    return this.special('pad_token')
  }
}
