import { Command } from 'commander'
import { EmbeddedBackend } from '../backends/embedded.js'
import { DEFAULT_MAX_REQUEST_TOKENS, OpenAIServer } from '../serve/server.js'
import { info, intOption } from './util.js'

export function serveCommand(): Command {
  return new Command('serve')
    .description('an OpenAI-compatible HTTP server over the embedded engine (/v1/models, /v1/completions, /v1/chat/completions)')
    .requiredOption('--model <dir>', 'model directory')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', intOption('--port', 0), 8000)
    .option('--served-model-name <name>', 'the model id clients use (default: the directory name)')
    .option('--max-batch-rows <n>', 'completions generated together at most', intOption('--max-batch-rows', 1), 64)
    .option('--max-new-tokens <n>', 'max_tokens for chat requests that give none', intOption('--max-new-tokens', 1), 256)
    .option('--max-body-kb <n>', 'largest request body accepted', intOption('--max-body-kb', 1), 1024)
    .option('--seed <n>', 'seed for requests that give none', intOption('--seed'), 0)
    .option('--max-request-tokens <n>', 'most tokens one request may ask for (prompts × n × max_tokens)', intOption('--max-request-tokens', 1), DEFAULT_MAX_REQUEST_TOKENS)
    .option('--api-key <key>', 'require Authorization: Bearer KEY on /v1 requests, as vLLM (default: MEDRL_SERVE_API_KEY)')
    .action(async (f: { model: string; host: string; port: number; servedModelName?: string; maxBatchRows: number; maxNewTokens: number; maxBodyKb: number; seed: number; apiKey?: string; maxRequestTokens: number }) => {
      const apiKey = f.apiKey ?? process.env.MEDRL_SERVE_API_KEY
      if (!/^(127\.|localhost$|::1$)/.test(f.host)) {
        info(`warning: --host ${f.host} serves the model to every machine that can reach this one${apiKey ? '' : ', with no API key (give --api-key)'}`)
      }
      const backend = EmbeddedBackend.fromDir(f.model, { maxBatch: f.maxBatchRows })
      const server = new OpenAIServer(backend, { servedModelName: f.servedModelName, maxBatchRows: f.maxBatchRows, defaultMaxTokens: f.maxNewTokens, maxBodyBytes: f.maxBodyKb * 1024, seed: f.seed, apiKey, maxRequestTokens: f.maxRequestTokens })
      const addr = await server.listen(f.port, f.host)
      const url = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}/v1`
      info(`serving ${server.modelName} at ${url}`)
      // A line on stdout that scripts can wait for.
      process.stdout.write(`${url}\n`)
      await new Promise<void>((resolve) => {
        const stop = () => resolve()
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
      await server.close()
      await backend.close()
    })
}
