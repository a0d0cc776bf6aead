import { z } from 'zod'

/** Request bodies of the OpenAI-compatible API, with OpenAI's defaults; unknown fields are ignored. */

const stop = z.union([z.string(), z.array(z.string()).max(4)]).nullish()
const common = {
  model: z.string().optional(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  n: z.number().int().min(1).max(64).nullish(),
  seed: z.number().int().nullish(),
  stop,
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  presence_penalty: z.number().nullish(),
  frequency_penalty: z.number().nullish(),
  // Sampling knobs vLLM, SGLang and llama.cpp accept beyond OpenAI's.
  top_k: z.number().int().min(-1).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  repetition_penalty: z.number().gt(0).nullish(),
  user: z.string().nullish(),
}

export const CompletionRequest = z.object({
  ...common,
  prompt: z.union([z.string(), z.array(z.string()).min(1), z.array(z.number().int().min(0)).min(1), z.array(z.array(z.number().int().min(0)).min(1)).min(1)]),
  max_tokens: z.number().int().min(1).nullish(),
  logprobs: z.number().int().min(0).max(5).nullish(),
  echo: z.boolean().nullish(),
  best_of: z.number().int().min(1).nullish(),
})
export type CompletionRequest = z.infer<typeof CompletionRequest>

const content = z.union([z.string(), z.array(z.object({ type: z.literal('text'), text: z.string() }))])

export const ChatRequest = z.object({
  ...common,
  messages: z
    .array(z.object({ role: z.enum(['system', 'user', 'assistant', 'developer']), content: content.nullable() }))
    .min(1),
  max_tokens: z.number().int().min(1).nullish(),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
})
export type ChatRequest = z.infer<typeof ChatRequest>

/** An OpenAI-style error body. */
export function errorBody(message: string, type = 'invalid_request_error', param: string | null = null, code: string | null = null): { error: { message: string; type: string; param: string | null; code: string | null } } {
  return { error: { message, type, param, code } }
}

/** The first problem of a zod failure as one sentence naming the field. */
export function describeIssue(err: z.ZodError): { message: string; param: string | null } {
  const i = err.issues[0]!
  const param = i.path.length > 0 ? i.path.join('.') : null
  return { message: `${param ?? 'body'}: ${i.message}`, param }
}
