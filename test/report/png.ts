import { inflateSync } from 'node:zlib'

/** Width, height, and whether the image has more than one colour (decodes IDAT; 8-bit RGBA/RGB PNGs). */
export function inspectPng(buf: Buffer): { width: number; height: number; distinctBytes: number } {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG')
  const width = buf.readUInt32BE(16)
  const height = buf.readUInt32BE(20)
  const channels = buf[25] === 6 ? 4 : buf[25] === 2 ? 3 : 1
  const idat: Buffer[] = []
  for (let p = 8; p < buf.length; ) {
    const len = buf.readUInt32BE(p)
    const type = buf.subarray(p + 4, p + 8).toString('latin1')
    if (type === 'IDAT') idat.push(buf.subarray(p + 8, p + 8 + len))
    p += 12 + len
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels + 1
  const seen = new Set<number>()
  // Filtered bytes differ from pixels, but a blank image filters to (nearly) constant rows.
  for (let y = 0; y < height && seen.size < 64; y++) for (let x = 1; x < stride; x += 7) seen.add(raw[y * stride + x]!)
  return { width, height, distinctBytes: seen.size }
}
