/** An agent's address in the bot config: `host:port`, `[ipv6]:port` or `host` (port 7070). */
import { CrewvzError } from './errors.ts';

export const DEFAULT_AGENT_PORT = 7070;

export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(address);
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? DEFAULT_AGENT_PORT : Number(match[3]);
  if (!match || host === undefined || port < 1 || port > 65535) {
    throw new CrewvzError('crewvz.config', `agent address '${address}' is not HOST[:PORT]`);
  }
  return { host, port };
}
