/**
 * The wire protocol between the bot and the node agents: the only module the two sides share.
 *
 * One JSON object per line, UTF-8, over mutual TLS.
 *   request:  {"command": "status", "arguments": [101], "id": 7}
 *   answer:   {"code": 0, "returned": [...], "id": 7}
 * A non-zero code is a failure and `returned` then holds strings that say what went wrong. Codes
 * below 256 are vzctl's own exit statuses, passed through so a crew member can look them up; the
 * agent's own codes start at 1001 so the two can never be confused.
 */

export const PROTOCOL_VERSION = 1;

/** The longest line either side accepts, newline excluded. */
export const MAX_LINE_BYTES = 64 * 1024;

export const AgentCode = {
  OK: 0,
  MALFORMED_JSON: 1001,
  UNKNOWN_COMMAND: 1002,
  INVALID_ARGUMENTS: 1003,
  REQUEST_TOO_LARGE: 1004,
  VE_BUSY: 1005,
  TIMEOUT: 1006,
  INTERNAL: 1007,
  STEP_FAILED: 1008,
} as const;

/** Short explanations, for logs and chat replies. */
export const AGENT_CODE_TEXT: Record<number, string> = {
  [AgentCode.OK]: 'ok',
  [AgentCode.MALFORMED_JSON]: 'malformed JSON request',
  [AgentCode.UNKNOWN_COMMAND]: 'unknown command',
  [AgentCode.INVALID_ARGUMENTS]: 'invalid arguments',
  [AgentCode.REQUEST_TOO_LARGE]: `request larger than ${MAX_LINE_BYTES} bytes`,
  [AgentCode.VE_BUSY]: 'VE busy with another operation',
  [AgentCode.TIMEOUT]: 'operation timed out',
  [AgentCode.INTERNAL]: 'internal agent error',
  [AgentCode.STEP_FAILED]: 'a provisioning step failed and was rolled back',
};

/** vzctl exit statuses the bot explains in plain words (see docs/agent.md). */
export const VZCTL_CODE_TEXT: Record<number, string> = {
  3: 'generic system error (or unable to lock the container)',
  9: 'container already locked by another vzctl',
  14: 'container config file does not exist (unknown VE)',
  20: 'bad command syntax',
  21: 'bad parameter value',
  29: 'OS template not specified',
  31: 'container is not running',
  32: 'container is already running',
  33: 'unable to stop the container',
  41: 'container is mounted',
  43: 'private area is missing',
  44: 'private area already exists',
  46: 'not enough disk space',
  47: 'container is broken (no /sbin/init or /bin/sh)',
  48: 'cannot create the private area from the template',
  78: 'IP address already in use by a running container',
  89: 'IP address not available',
  91: 'OS template not found in the cache',
  105: 'container start is disabled',
};

export function describeCode(code: number): string {
  return AGENT_CODE_TEXT[code] ?? VZCTL_CODE_TEXT[code] ?? `vzctl exit status ${code}`;
}

export const AGENT_COMMANDS = [
  'ping',
  'list',
  'status',
  'create',
  'start',
  'stop',
  'restart',
  'remove',
  'ubc',
  'set',
  'templates',
  'update',
  'authorize',
] as const;

export type AgentCommand = (typeof AGENT_COMMANDS)[number];

/**
 * The longest the agent may take to answer each command: the run limits of the programs it runs
 * (agent/run.ts: queries 30 s, start and stop 150 s, create 600 s; remove is a stop then a
 * destroy; restart one vzctl call given a stop's and a start's time) plus their kill grace and
 * the status query after, and `update`'s 30 minutes. The agent may answer TIMEOUT (1006)
 * sooner; a caller must wait longer than this, or it gives up on an answer still coming.
 */
export const ANSWER_WITHIN_MS: Readonly<Record<AgentCommand, number>> = {
  ping: 5_000,
  list: 35_000,
  status: 35_000,
  ubc: 35_000,
  templates: 35_000,
  set: 70_000,
  start: 190_000,
  stop: 190_000,
  restart: 350_000,
  remove: 340_000,
  create: 640_000,
  update: 30 * 60_000,
  authorize: 35_000,
};

/** How much longer than ANSWER_WITHIN_MS the bot waits, so the agent's own answer comes first. */
export const CALL_GRACE_MS = 15_000;

export type RequestId = string | number;

export interface AgentRequest {
  command: AgentCommand;
  arguments: unknown[];
  id?: RequestId;
}

export interface AgentResponse {
  code: number;
  returned: unknown[];
  id?: RequestId | null;
}

export type VeState = 'running' | 'stopped' | 'absent';

/** What `status` and `list` say about one VE. `startedAt` is ISO 8601, null unless running. */
export interface VeStatus {
  id: number;
  state: VeState;
  address: string | null;
  hostname: string | null;
  startedAt: string | null;
}

/**
 * What `stop` answers: the VE's status, then any line vzctl printed though it succeeded; for a
 * VE that was already stopped, vzctl's own "Unable to stop: container is not running".
 */
export type StopResult = [VeStatus, ...string[]];

/** The kernel's LONG_MAX on either word size is reported as this string, never as a number. */
export const UNLIMITED = 'unlimited';
export type UbcValue = number | typeof UNLIMITED;

/** One beancounter row as `ubc` answers it. `ve` is a string: OpenVZ 7 names beancounters. */
export interface UbcRow {
  ve: string;
  resource: string;
  held: UbcValue;
  maxheld: UbcValue;
  barrier: UbcValue;
  limit: UbcValue;
  failcnt: number;
}

/** One template `update` could not bring into the cache, and why. */
export interface SyncFailure {
  name: string;
  reason: string;
}

/** What `update` answers: template file names by outcome. */
export interface SyncResult {
  added: string[];
  updated: string[];
  unchanged: string[];
  failed: SyncFailure[];
}

/** What `authorize` answers: whose login key was installed, its type and SHA256 fingerprint. */
export interface AuthorizedKey {
  username: string;
  type: string;
  fingerprint: string;
}

export interface PingResult {
  name: string;
  driver: string;
  protocol: number;
  time: string;
}

export type ResourceUnit = 'pages' | 'bytes' | 'items';

/** The beancounters of /proc/user_beancounters and /proc/bc/ID/resources, with their units. */
export const RESOURCE_UNITS: Readonly<Record<string, ResourceUnit>> = {
  kmemsize: 'bytes',
  lockedpages: 'pages',
  privvmpages: 'pages',
  shmpages: 'pages',
  numproc: 'items',
  physpages: 'pages',
  vmguarpages: 'pages',
  oomguarpages: 'pages',
  numtcpsock: 'items',
  numflock: 'items',
  numpty: 'items',
  numsiginfo: 'items',
  tcpsndbuf: 'bytes',
  tcprcvbuf: 'bytes',
  othersockbuf: 'bytes',
  dgramrcvbuf: 'bytes',
  numothersock: 'items',
  dcachesize: 'bytes',
  numfile: 'items',
  numiptent: 'items',
  swappages: 'pages',
};

/** Pages are 4 KiB on the x86 kernels OpenVZ runs on. */
export const PAGE_BYTES = 4096;

/** The kernel's LONG_MAX on 64-bit hosts: vzctl refuses anything larger with exit status 21. */
export const LONG_MAX = 9223372036854775807n;

/** How a beancounter amount is spelled, for the error messages of the bot and the agent. */
export const UBC_AMOUNT_RULE =
  "digits with an optional K, M, G, T, P (pages) or B (bytes) suffix, or 'unlimited'";

/** Why parseUbcAmount refused: not an amount, a suffix on a count of items, or over LONG_MAX. */
export type UbcAmountProblem = 'spelling' | 'items-suffix' | 'too-large';
export type UbcAmount = { value: bigint } | { problem: UbcAmountProblem };

const UBC_AMOUNT = /^(0|[1-9][0-9]*)([KMGTPB])?$/i;
const UBC_SUFFIX_BYTES: Readonly<Record<string, bigint>> = {
  K: 1n << 10n,
  M: 1n << 20n,
  G: 1n << 30n,
  T: 1n << 40n,
  P: BigInt(PAGE_BYTES),
  B: 1n,
};

/**
 * One beancounter amount as vzctl(8) reads it ("User Beancounter limits"), in the resource's own
 * unit: plain digits are taken as they are; a suffixed size is converted to whole pages for a
 * pages resource; counts of items take no suffix; `unlimited` is LONG_MAX. The one parser the bot,
 * the agent's validator and the simulator all use, so they accept the same spellings.
 */
export function parseUbcAmount(text: string, unit: ResourceUnit): UbcAmount {
  if (text === UNLIMITED) {
    return { value: LONG_MAX };
  }
  const match = UBC_AMOUNT.exec(text);
  if (!match) {
    return { problem: 'spelling' };
  }
  const [, digits = '0', suffix] = match;
  if (suffix === undefined) {
    const value = BigInt(digits);
    return value > LONG_MAX ? { problem: 'too-large' } : { value };
  }
  if (unit === 'items') {
    return { problem: 'items-suffix' };
  }
  const bytes = BigInt(digits) * (UBC_SUFFIX_BYTES[suffix.toUpperCase()] ?? 1n);
  const value = unit === 'pages' ? bytes / BigInt(PAGE_BYTES) : bytes;
  return value > LONG_MAX ? { problem: 'too-large' } : { value };
}

export const VE_ID_MIN = 101;
export const VE_ID_MAX = 2147483644;

/** The node's rule for a username; the bot checks it before it stores a request. */
export const USERNAME_PATTERN = /^[a-z_][a-z0-9_-]{0,31}$/;

/**
 * Names a VE owner may not have: a host account with that name is a system account (useradd
 * would fail, or worse, the RewriteMap line would send the host's own web name to a student's
 * VE), and a name like `www` or `mail` as USERNAME.DOMAIN would pose as the school's service.
 */
export const RESERVED_USERNAMES: ReadonlySet<string> = new Set([
  // Debian's and Red Hat's system accounts and groups.
  'root', 'daemon', 'bin', 'sys', 'sync', 'games', 'man', 'lp', 'mail', 'news', 'uucp', 'proxy',
  'www-data', 'backup', 'list', 'irc', 'gnats', 'nobody', 'nogroup', 'sshd', 'messagebus',
  'adm', 'operator', 'halt', 'shutdown', 'ftp', 'apache', 'nginx', 'postgres', 'mysql', 'sudo',
  'wheel', 'staff', 'users', 'tty', 'disk', 'kmem', 'shadow', 'utmp', 'video', 'audio',
  'dip', 'plugdev', 'netdev', 'lxd', 'docker', 'polkitd', 'dbus', 'tss', 'uuidd', 'dnsmasq',
  'avahi', 'ntp', 'chrony', 'postfix', 'exim', 'dovecot', 'bind', 'named', 'vz', 'openvz',
  // Web and mail names that must not become USERNAME.DOMAIN for a student.
  'www', 'web', 'webmail', 'smtp', 'imap', 'pop', 'pop3', 'mx', 'dns', 'api', 'vpn', 'git',
  'autoconfig', 'autodiscover', 'wpad', 'localhost', 'localdomain', 'postmaster', 'hostmaster',
  'webmaster', 'abuse', 'security', 'noc', 'admin', 'administrator', 'support', 'info',
  // crewvz's own names.
  'crewvz', 'crew', 'agent', 'bot',
]);

/** Prefixes of system account families (systemd-network, _apt) and name-server hosts (ns1). */
const RESERVED_USERNAME_PATTERNS: readonly RegExp[] = [/^systemd-/, /^_/, /^ns[0-9]*$/];

/**
 * The username also becomes a DNS label (USERNAME.DOMAIN): a letter first, no `_`, no `-` at
 * the end, and no `--` in the third and fourth place (reserved for punycode `xn--` labels).
 */
const HOSTNAME_LABEL = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

/**
 * Why `name` cannot be a VE owner's username, or null when it can. The agent refuses the same
 * names, so the bot calls this before it stores a request.
 */
export function checkUsername(name: string): string | null {
  if (!USERNAME_PATTERN.test(name)) {
    return (
      'it must start with a lowercase letter and hold up to 32 lowercase letters, ' +
      "digits or '-'"
    );
  }
  if (RESERVED_USERNAMES.has(name) || RESERVED_USERNAME_PATTERNS.some((rule) => rule.test(name))) {
    return `'${name}' is reserved for the system or a service host`;
  }
  if (name.includes('_')) {
    return "it becomes a host name (NAME.DOMAIN), which may not hold '_'";
  }
  if (!HOSTNAME_LABEL.test(name)) {
    return "it becomes a host name (NAME.DOMAIN): start with a letter and do not end with '-'";
  }
  if (name.slice(2, 4) === '--') {
    return "it becomes a host name (NAME.DOMAIN), which may not hold '--' in 3rd and 4th place";
  }
  return null;
}

export function encodeLine(message: AgentRequest | AgentResponse): string {
  return `${JSON.stringify(message)}\n`;
}

export interface LineEvents {
  line(text: string): void;
  /** A line grew past the limit; the rest of it up to the next newline is discarded. */
  oversize(): void;
}

/**
 * Splits a byte stream into newline-terminated lines without ever holding more than
 * MAX_LINE_BYTES of one line, so a peer cannot make either side buffer without bound.
 * Invalid UTF-8 is left to the JSON layer: it decodes to U+FFFD and fails validation there.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private discarding = false;

  constructor(
    private readonly events: LineEvents,
    private readonly maxBytes = MAX_LINE_BYTES,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;

    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      this.take(chunk.subarray(start, end));

      if (newline === -1) {
        return;
      }
      this.finishLine();
      start = newline + 1;
    }
  }

  private take(piece: Buffer): void {
    if (this.discarding || piece.length === 0) {
      return;
    }
    if (this.pendingBytes + piece.length > this.maxBytes) {
      this.pending = [];
      this.pendingBytes = 0;
      this.discarding = true;
      this.events.oversize();
      return;
    }
    this.pending.push(piece);
    this.pendingBytes += piece.length;
  }

  private finishLine(): void {
    if (this.discarding) {
      this.discarding = false;
      return;
    }
    let text = Buffer.concat(this.pending).toString('utf8');
    this.pending = [];
    this.pendingBytes = 0;

    if (text.endsWith('\r')) {
      text = text.slice(0, -1);
    }
    if (text.trim() !== '') {
      this.events.line(text);
    }
  }
}
