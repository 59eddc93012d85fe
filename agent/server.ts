/**
 * The agent's TLS listener. Only a client whose certificate chains to the pinned CA and is meant
 * for the bot (extended key usage clientAuth) gets in: an agent's serverAuth certificate, stolen
 * from another node, does not. Each connection carries many requests; answers go out as they
 * finish, tagged with the request's id.
 *
 * Before the handshake nobody is trusted: the handshake has a short timeout, the port a cap on
 * connections, each address a cap on connections still in the handshake, and refusals are
 * logged as summaries (handshake-guard.ts). After it, a connection's requests wait in a bounded
 * queue and at most MAX_IN_FLIGHT of them run at once; a full queue or unread answers stop the
 * agent reading from that peer until it catches up.
 */
import { constants as cryptoConstants } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';

import type { Dispatcher } from './handlers.ts';
import { HandshakeGuard } from './handshake-guard.ts';
import { encodeLine, LineSplitter, type AgentResponse } from './protocol.ts';

export const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

/** Requests one connection may have running at once; the rest wait in its queue. */
export const MAX_IN_FLIGHT = 64;
/** Queued requests (lines, bytes) after which the agent stops reading from the connection. */
export const MAX_QUEUED_LINES = 256;
export const MAX_QUEUED_BYTES = 1024 * 1024;
/** Unsent answers (bytes) after which the agent starts no more requests and stops reading. */
const MAX_UNSENT_BYTES = 1024 * 1024;
const STOP_GRACE_MS = 10_000;
/** The bot finishes a handshake in milliseconds; Node's default (120 s) only helps an idler. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_CONNECTIONS = 256;

export interface AgentServerOptions {
  tls: { ca: string; cert: string; key: string };
  dispatcher: Dispatcher;
  logger: Logger;
  host: string;
  port: number;
  /** How long stop() waits for running requests to be answered before it cuts connections. */
  stopGraceMs?: number;
  /** Connections the port holds at once, authenticated or not. */
  maxConnections?: number;
  /** Connections one address may have in the TLS handshake at once. */
  handshakesPerAddress?: number;
  handshakeTimeoutMs?: number;
  /** How often refused connections are summarised in the log. */
  refusalLogIntervalMs?: number;
}

interface Connection {
  socket: tls.TLSSocket;
  logger: Logger;
  inFlight: number;
  queue: string[];
  queuedBytes: number;
  drained: Array<() => void>;
}

/** Why the peer's certificate is not the bot's, or null when it is. */
export function refuseClientCertificate(socket: tls.TLSSocket): string | null {
  if (!socket.authorized) {
    return `certificate not trusted: ${String(socket.authorizationError)}`;
  }
  const peer = socket.getPeerX509Certificate();
  if (!peer) {
    return 'no client certificate';
  }
  const usages = peer.keyUsage ?? [];
  if (!usages.includes(CLIENT_AUTH_OID)) {
    return 'certificate is not meant for a client (no extended key usage clientAuth)';
  }
  return null;
}

/**
 * The client's address and "address:port". A TLS socket whose client already hung up has no
 * address of its own any more; the TCP socket it wraps kept the one read when it connected
 * (HandshakeGuard.admit reads it), so that one is used.
 */
export function peerOf(socket: tls.TLSSocket): { address: string; peer: string } {
  const wrapped = (socket as tls.TLSSocket & { _parent?: Socket | null })._parent;
  const address = socket.remoteAddress ?? wrapped?.remoteAddress;
  const port = socket.remotePort ?? wrapped?.remotePort;
  if (address === undefined) {
    return { address: 'unknown', peer: 'unknown' };
  }
  return { address, peer: `${address}:${port ?? 'unknown'}` };
}

export class AgentServer {
  private readonly server: tls.Server;
  private readonly guard: HandshakeGuard;
  private readonly connections = new Set<Connection>();
  private serial = 0;
  private stopping = false;

  constructor(private readonly options: AgentServerOptions) {
    const { logger } = options;
    const { handshakesPerAddress, refusalLogIntervalMs } = options;
    this.guard = new HandshakeGuard({
      logger,
      ...(handshakesPerAddress ? { handshakesPerAddress } : {}),
      ...(refusalLogIntervalMs ? { logIntervalMs: refusalLogIntervalMs } : {}),
    });
    this.server = tls.createServer({
      ca: options.tls.ca,
      cert: options.tls.cert,
      key: options.tls.key,
      minVersion: 'TLSv1.2',
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
      // TLS 1.2 renegotiation costs the server a handshake per request of the client.
      secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
    });
    this.server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;

    this.server.on('connection', (socket: Socket) => this.guard.admit(socket));
    this.server.on('drop', (data?: { remoteAddress?: string }) => {
      const address = data?.remoteAddress ?? 'unknown';
      this.guard.refused(address, `more than ${this.server.maxConnections} connections`);
    });
    this.server.on('secureConnection', (socket) => this.accept(socket));
    this.server.on('tlsClientError', (error, socket) => {
      const { address, peer } = peerOf(socket);
      this.guard.refused(address, `TLS handshake failed: ${error.message}`, peer);
      socket.destroy();
    });
  }

  async start(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    this.options.logger.info({ address: address.address, port: address.port }, 'agent listening');
    return address;
  }

  private accept(socket: tls.TLSSocket): void {
    const { address, peer } = peerOf(socket);
    this.guard.handshakeDone(peer);
    const logger = this.options.logger.child({ peer, conn: ++this.serial });
    // Renegotiation attempts and other TLS errors end the connection (Node does not always).
    socket.on('error', (error) => {
      logger.debug({ reason: error.message }, 'connection error');
      socket.destroy();
    });

    const refusal = refuseClientCertificate(socket);
    if (refusal !== null || this.stopping) {
      this.guard.refused(address, refusal ?? 'agent is stopping', peer);
      socket.destroy();
      return;
    }

    const connection: Connection = {
      socket,
      logger,
      inFlight: 0,
      queue: [],
      queuedBytes: 0,
      drained: [],
    };
    this.connections.add(connection);
    logger.info({ subject: socket.getPeerX509Certificate()?.subject }, 'client connected');

    const splitter = new LineSplitter({
      line: (text) => {
        connection.queue.push(text);
        connection.queuedBytes += text.length;
        this.pump(connection);
      },
      oversize: () => this.send(connection, this.options.dispatcher.oversize(logger)),
    });

    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    socket.on('drain', () => this.pump(connection));
    socket.on('close', () => {
      this.connections.delete(connection);
      connection.queue = [];
      connection.queuedBytes = 0;
      connection.drained.splice(0).forEach((wake) => wake());
      logger.info('client disconnected');
    });
  }

  private send(connection: Connection, response: AgentResponse): void {
    const { socket } = connection;
    if (!socket.destroyed && socket.writable) {
      socket.write(encodeLine(response));
    }
    this.throttle(connection);
  }

  /** Starts queued requests while the connection has room, then adjusts reading. */
  private pump(connection: Connection): void {
    const { socket } = connection;
    while (
      connection.queue.length > 0 &&
      connection.inFlight < MAX_IN_FLIGHT &&
      socket.writableLength <= MAX_UNSENT_BYTES &&
      !this.stopping &&
      !socket.destroyed
    ) {
      const text = connection.queue.shift() as string;
      connection.queuedBytes -= text.length;
      connection.inFlight += 1;

      void this.options.dispatcher.handleLine(text, connection.logger).then((response) => {
        connection.inFlight -= 1;
        this.send(connection, response);
        if (connection.inFlight === 0) {
          connection.drained.splice(0).forEach((wake) => wake());
        }
        this.pump(connection);
      });
    }
    this.throttle(connection);
  }

  /** Reads from a peer only while its queue has room and it reads its answers. */
  private throttle(connection: Connection): void {
    const { socket } = connection;
    const full =
      connection.queue.length >= MAX_QUEUED_LINES ||
      connection.queuedBytes >= MAX_QUEUED_BYTES ||
      socket.writableLength > MAX_UNSENT_BYTES;
    if (full || this.stopping) {
      socket.pause();
    } else if (socket.isPaused()) {
      socket.resume();
    }
  }

  /** Stops listening, lets running requests answer (up to the grace period), then closes. */
  async stop(): Promise<void> {
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const graceMs = this.options.stopGraceMs ?? STOP_GRACE_MS;

    await Promise.all(
      [...this.connections].map(async (connection) => {
        connection.socket.pause();
        if (connection.inFlight > 0) {
          await new Promise<void>((resolve) => {
            connection.drained.push(resolve);
            setTimeout(resolve, graceMs).unref();
          });
        }
        connection.socket.end();
        setTimeout(() => connection.socket.destroy(), 1000).unref();
      }),
    );
    await closed;
    this.guard.close();
    this.options.logger.info('agent stopped listening');
  }
}
