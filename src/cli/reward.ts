import { Command, Option } from 'commander'
import { rewardNames } from '../reward/rewards.js'
import { templateNames } from '../reward/templates.js'
import { RewardService } from '../verl/reward-service.js'
import { info, intOption } from './util.js'
import { DEFAULT_TEMPLATE, templateHelp } from '../defaults.js'

export function rewardCommand(): Command {
  const reward = new Command('reward').description("medrl's reward as a service, for verl (reward.py asks it)")
  reward
    .command('serve')
    .description('score batches of responses over HTTP (POST /score) with the registered rewards, extraction and stage classifier')
    .option('--host <host>', 'address to bind (a non-loopback address needs --token)', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', intOption('--port', 0), 8765)
    .option('--token <token>', 'require Authorization: Bearer TOKEN (default: MEDRL_REWARD_TOKEN)')
    .option('--reward <spec>', `reward for rows that name none (${rewardNames().join(', ')})`, 'binary')
    .addOption(new Option('--template <name>', templateHelp(DEFAULT_TEMPLATE.rl, 'template for rows that name none')).choices(templateNames()).default(DEFAULT_TEMPLATE.rl.name))
    .addOption(new Option('--mode <mode>', 'answer extraction for rows that name none (strict: what training rewards use)').choices(['strict', 'lenient']).default('strict'))
    .action(async (f: { host: string; port: number; token?: string; reward: string; template: string; mode: 'strict' | 'lenient' }) => {
      const service = new RewardService({ reward: f.reward, template: f.template, mode: f.mode, token: f.token ?? process.env.MEDRL_REWARD_TOKEN })
      const addr = await service.listen(f.port, f.host)
      const url = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`
      info(`medrl reward service at ${url} (POST /score, GET /health); reward.py finds it with MEDRL_REWARD_URL=${url}`)
      process.stdout.write(`${url}\n`)
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve())
        process.once('SIGTERM', () => resolve())
      })
      info(`scored ${service.scored.items} responses in ${service.scored.requests} batches`)
      await service.close()
    })
  return reward
}
