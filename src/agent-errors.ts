/** How an agent call fails, as the bot sees it (thrown by src/agent-client.ts). */
import { describeCode } from '../agent/protocol.ts';
import { CrewvzError } from './errors.ts';

/** The agent answered with a non-zero code. `code` is numeric: vzctl's status or an AgentCode. */
export class AgentCallError extends Error {
  constructor(
    readonly node: string,
    readonly command: string,
    readonly code: number,
    readonly lines: string[],
  ) {
    const detail = lines.length > 0 ? `: ${lines.join('; ')}` : '';
    super(`${command} on ${node} failed with code ${code} (${describeCode(code)})${detail}`);
    this.name = 'AgentCallError';
  }
}

/** The node could not be reached, or the connection dropped before the answer came. */
export class NodeUnreachableError extends CrewvzError {
  constructor(
    readonly node: string,
    readonly reason: string,
  ) {
    super('crewvz.node_unreachable', `node ${node} is unreachable (${reason})`);
  }
}
