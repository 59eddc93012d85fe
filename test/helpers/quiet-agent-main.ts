/**
 * `node --import tsx test/helpers/quiet-agent-main.ts --config FILE`: the real agent (config,
 * TLS server, handlers) with the sim driver's load switched off, so that the test that spawned
 * it owns the beancounters file. The agent config has no key for the sim's load on purpose:
 * only tests need it quiet.
 */
import { parseArgs } from 'node:util';

import { loadAgentConfig } from '../../agent/config.ts';
import { createAgentLogger } from '../../agent/log.ts';
import { startAgent } from '../../agent/main.ts';
import { createSimDriver } from '../../agent/sim.ts';

const { values } = parseArgs({ options: { config: { type: 'string' } } });
if (values.config === undefined) {
  process.stderr.write('usage: quiet-agent-main.ts --config FILE\n');
  process.exit(2);
}
const { config } = await loadAgentConfig(values.config);
const logger = createAgentLogger(config.logLevel).child({ node: config.name });
const driver = await createSimDriver({
  stateDir: config.stateDir as string,
  templatesDir: config.templates,
  loadIntervalMs: 0,
  logger,
});
const agent = await startAgent(config, { logger, driver });

process.once('SIGTERM', () => {
  void agent.stop().then(() => process.exit(0));
});
