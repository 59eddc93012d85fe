/**
 * The agent's fixed command set. Each entry validates its arguments completely in `parse`, so a
 * driver only ever sees checked values.
 */
import { DriverError, type CreateSpec } from './driver.ts';
import { defineHandler, type CommandHandler, type HandlerContext } from './handlers.ts';
import {
  AgentCode,
  PROTOCOL_VERSION,
  type PingResult,
  type StopResult,
  type VeStatus,
} from './protocol.ts';
import {
  checkCount,
  checkResource,
  checkTemplate,
  checkUsername,
  parseBarrierLimit,
  parseVeId,
  type UbLimits,
} from './validate.ts';

/** vzctl's exit status for an unknown VE: `status` reports that as state 'absent' instead. */
const VZ_NO_SUCH_VE = 14;

const noArguments = (usage: string): Pick<CommandHandler<null>, 'usage' | 'parse'> => ({
  usage,
  parse(args) {
    checkCount(args, 0, 0);
    return null;
  },
});

function oneVe(args: unknown[]): number {
  checkCount(args, 1, 1);
  return parseVeId(args[0]);
}

async function statusOf(context: HandlerContext, id: number): Promise<VeStatus> {
  try {
    return await context.driver.status(id);
  } catch (error) {
    if (error instanceof DriverError && error.code === VZ_NO_SUCH_VE) {
      return { id, state: 'absent', address: null, hostname: null, startedAt: null };
    }
    throw error;
  }
}

const ping = defineHandler<null>({
  ...noArguments('ping'),
  exclusive: false,
  async run(_parsed, { driver, settings }) {
    const result: PingResult = {
      name: settings.name,
      driver: driver.name,
      protocol: PROTOCOL_VERSION,
      time: new Date().toISOString(),
    };
    return [result];
  },
});

const list = defineHandler<null>({
  ...noArguments('list'),
  exclusive: false,
  run: async (_parsed, { driver }) => driver.list(),
});

const templates = defineHandler<null>({
  ...noArguments('templates'),
  exclusive: false,
  run: async (_parsed, { driver }) => driver.templates(),
});

const status = defineHandler<number>({
  usage: 'status ID',
  exclusive: false,
  parse: oneVe,
  ve: (id) => id,
  run: async (id, context) => [await statusOf(context, id)],
});

type VeAction = 'start' | 'restart';

function veAction(action: VeAction): CommandHandler {
  return defineHandler<number>({
    usage: `${action} ID`,
    exclusive: true,
    parse: oneVe,
    ve: (id) => id,
    run: async (id, { driver }) => [await driver[action](id)],
  });
}

/** The status, then what vzctl said though it succeeded (see StopResult in the protocol). */
const stop = defineHandler<number>({
  usage: 'stop ID',
  exclusive: true,
  parse: oneVe,
  ve: (id) => id,
  async run(id, { driver }) {
    const { notes = [], ...status } = await driver.stop(id);
    const result: StopResult = [status, ...notes];
    return result;
  },
});

const remove = defineHandler<number>({
  usage: 'remove ID',
  exclusive: true,
  parse: oneVe,
  ve: (id) => id,
  async run(id, { driver }) {
    // The driver stops a running VE first; a stop here too would run vzctl stop twice.
    await driver.remove(id);
    return [];
  },
});

interface CreateArgs {
  id: number;
  template: string;
  username: string;
}

/** Destroys a VE whose start failed, so a failed create leaves nothing behind. */
async function rollBack(context: HandlerContext, id: number, cause: unknown): Promise<never> {
  const code = cause instanceof DriverError ? cause.code : AgentCode.INTERNAL;
  const lines = cause instanceof DriverError ? [...cause.lines] : ['the new VE did not start'];
  try {
    await context.driver.remove(id);
    lines.push(`VE ${id} was created but did not start, so it was destroyed again`);
  } catch (error) {
    context.logger.error({ err: error, ve: id }, 'could not destroy a VE whose start failed');
    lines.push(`VE ${id} did not start and could not be destroyed: remove it by hand`);
  }
  if (!(cause instanceof DriverError)) {
    context.logger.error({ err: cause, ve: id }, 'start after create failed');
  }
  throw new DriverError(code, lines);
}

export const create = defineHandler<CreateArgs>({
  usage: 'create ID TEMPLATE USERNAME',
  exclusive: true,
  journaled: true,
  async parse(args, { driver }) {
    checkCount(args, 3, 3);
    const id = parseVeId(args[0]);
    const username = checkUsername(args[2]);
    const template = checkTemplate(args[1], await driver.templates());
    return { id, template, username };
  },
  ve: (parsed) => parsed.id,
  async run({ id, template, username }, context) {
    const { domain, limits } = context.settings;
    const spec: CreateSpec = {
      id,
      template,
      hostname: domain ? `${username}.${domain}` : username,
      address: null,
      nameservers: [],
      searchdomain: null,
      limits: { ...limits },
    };
    await context.driver.create(spec);

    try {
      return [await context.driver.start(id)];
    } catch (error) {
      return rollBack(context, id, error);
    }
  },
});

const ubc = defineHandler<number | null>({
  usage: 'ubc [ID]',
  exclusive: false,
  parse(args) {
    checkCount(args, 0, 1);
    return args.length === 0 ? null : parseVeId(args[0]);
  },
  ve: (id) => id,
  run: async (id, { driver }) => driver.ubc(id ?? undefined),
});

interface SetArgs extends UbLimits {
  id: number;
  resource: string;
}

const set = defineHandler<SetArgs>({
  usage: 'set ID RESOURCE BARRIER[:LIMIT]',
  exclusive: true,
  parse(args) {
    checkCount(args, 3, 3);
    const id = parseVeId(args[0]);
    const resource = checkResource(args[1]);
    return { id, resource, ...parseBarrierLimit(args[2], resource) };
  },
  ve: (parsed) => parsed.id,
  async run({ id, resource, barrier, limit }, { driver }) {
    await driver.set(id, resource, barrier, limit);
    return [];
  },
});

/** The built-in table; `update` is absent until provisioning registers it. */
export function builtinHandlers(): Record<string, CommandHandler> {
  return {
    ping,
    list,
    status,
    create,
    start: veAction('start'),
    stop,
    restart: veAction('restart'),
    remove,
    ubc,
    set,
    templates,
  };
}
