import { Template } from '@huggingface/jinja'

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
}

/** The parts of tokenizer_config.json a chat template reads. */
export interface ChatTemplateConfig {
  chat_template?: string | { name: string; template: string }[]
  bos_token?: string | { content: string } | null
  eos_token?: string | { content: string } | null
  pad_token?: string | { content: string } | null
}

function tokenText(t: ChatTemplateConfig['bos_token']): string {
  if (t === null || t === undefined) return ''
  return typeof t === 'string' ? t : t.content
}

/** The default template of a config (configs may list several named ones). */
function templateSource(cfg: ChatTemplateConfig): string {
  const t = cfg.chat_template
  if (typeof t === 'string') return t
  if (Array.isArray(t)) {
    const def = t.find((x) => x.name === 'default') ?? t[0]
    if (def) return def.template
  }
  throw new Error('this tokenizer_config.json has no chat_template: render the prompt as plain text (a base model) or supply a template')
}

/**
 * Renders messages with the model's own Jinja chat template (as transformers' apply_chat_template does),
 * with `add_generation_prompt` and the special tokens the template refers to.
 */
export class ChatTemplate {
  private readonly template: Template
  private readonly tokens: Record<string, string>

  constructor(cfg: ChatTemplateConfig) {
    this.template = new Template(templateSource(cfg))
    this.tokens = { bos_token: tokenText(cfg.bos_token), eos_token: tokenText(cfg.eos_token), pad_token: tokenText(cfg.pad_token) }
  }

  render(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    return this.template.render({ messages, add_generation_prompt: opts.addGenerationPrompt ?? true, ...this.tokens })
  }
}
