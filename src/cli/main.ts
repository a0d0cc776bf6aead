import { Command, CommanderError } from 'commander'
import { DataError } from '../data/errors.js'
import { dataCommand } from './data.js'
import { demoCommand } from './demo.js'
import { scoreCommand } from './score.js'
import { modelCommand } from './model.js'
import { serveCommand } from './serve.js'
import { generateCommand } from './generate.js'
import { trainCommand } from './train.js'
import { compareCommand, evalCommand, tableCommand } from './eval.js'
import { difficultyCommand } from './difficulty.js'
import { reportCommand } from './report.js'
import { dashboardCommand } from './dashboard.js'
import { pretrainCommand, synthCommand } from './synth.js'
import { verlCommand } from './verl.js'
import { rewardCommand } from './reward.js'
import { experimentCommand } from './experiment.js'
import { sftCommand } from './sft.js'

export function buildProgram(): Command {
  const program = new Command('medrl')
    .description('RL from verifiable rewards for medical multiple-choice reasoning (AlphaMed GRPO, Med-RLVR PPO)')
    .version('0.1.0')
    .showHelpAfterError()
  program.addCommand(dataCommand())
  program.addCommand(scoreCommand())
  program.addCommand(modelCommand())
  program.addCommand(generateCommand())
  program.addCommand(trainCommand())
  program.addCommand(sftCommand())
  program.addCommand(experimentCommand())
  program.addCommand(evalCommand())
  program.addCommand(difficultyCommand())
  program.addCommand(reportCommand())
  program.addCommand(dashboardCommand())
  program.addCommand(synthCommand())
  program.addCommand(pretrainCommand())
  program.addCommand(compareCommand())
  program.addCommand(tableCommand())
  program.addCommand(serveCommand())
  program.addCommand(demoCommand())
  program.addCommand(verlCommand())
  program.addCommand(rewardCommand())
  return program
}

/** Runs the CLI; known failures print one clear line (no stack) and exit 1. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram()
  program.exitOverride()
  try {
    await program.parseAsync(argv)
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode
      return
    }
    const msg = e instanceof DataError ? e.message : e instanceof Error ? e.message : String(e)
    process.stderr.write(`medrl: error: ${msg}\n`)
    if (process.env.MEDRL_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`)
    process.exitCode = 1
  }
}
