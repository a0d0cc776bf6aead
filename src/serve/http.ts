import type { IncomingMessage, ServerResponse } from 'node:http'

/** An error a JSON HTTP server answers with its status (OpenAI-style type and param for the body). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly type = 'invalid_request_error',
  ) {
    super(message)
  }
}

/** A request body as text; larger than `limit` bytes is a 413. */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let failed = false
    req.on('data', (c: Buffer) => {
      if (failed) return
      size += c.length
      if (size > limit) {
        failed = true
        reject(new HttpError(413, `request body larger than ${limit} bytes`))
        req.resume()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => !failed && resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', (e) => !failed && reject(e))
  })
}

/** A JSON response (nothing, when headers already went out). */
export function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
