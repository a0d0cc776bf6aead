#!/usr/bin/env node
// Runs the TypeScript CLI straight from the checkout (tsx transpiles on load), so `npx medrl` after
// `npm ci` needs no build step and can never run stale compiled code.
import { register } from 'tsx/esm/api'
register()
const { main } = await import('../src/cli/main.ts')
await main(process.argv)
