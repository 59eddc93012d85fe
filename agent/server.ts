/**
 * The agent's TLS listener. Only a client whose certificate chains to the pinned CA and is meant
 * for the bot (extended key usage clientAuth) gets in: an agent's serverAuth certificate, stolen
 * from another node, does not. Each connection carries many requests; answers go out as they
 * finish, tagged with the request's id.
 */
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';

import type { Dispatcher } from './handlers.ts';
import { encodeLine, LineSplitter, type AgentResponse } from './protocol.ts';

export const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

/** Requests one connection may have running before the agent stops reading from it. */
const MAX_IN_FLIGHT = 64;
/** Unsent answers (bytes) after which the agent stops reading until the peer catches up. */
const MAX_UNSENT_BYTES = 1024 * 1024;
const STOP_GRACE_MS = 10_000;

export interface AgentServerOptions {
  tls: { ca: string; cert: string; key: string };
  dispatcher: Dispatcher;
  logger: Logger;
  host: string;
  port: number;
  /** How long stop() waits for running requests to be answered before it cuts connections. */
  stopGraceMs?: number;
}

interface Connection {
  socket: tls.TLSSocket;
  inFlight: number;
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

export class AgentServer {
  private readonly server: tls.Server;
  private readonly connections = new Set<Connection>();
  private serial = 0;
  private stopping = false;

  constructor(private readonly options: AgentServerOptions) {
    this.server = tls.createServer({
      ca: options.tls.ca,
      cert: options.tls.cert,
      key: options.tls.key,
      minVersion: 'TLSv1.2',
      requestCert: true,
      rejectUnauthorized: true,
    });
    this.server.on('secureConnection', (socket) => this.accept(socket));
    this.server.on('tlsClientError', (error, socket) => {
      options.logger.warn(
        { peer: `${socket.remoteAddress}:${socket.remotePort}`, reason: error.message },
        'TLS handshake refused',
      );
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
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const logger = this.options.logger.child({ peer, conn: ++this.serial });
    const refusal = refuseClientCertificate(socket);
    if (refusal !== null || this.stopping) {
      logger.warn({ reason: refusal ?? 'agent is stopping' }, 'client refused');
      socket.destroy();
      return;
    }

    const connection: Connection = { socket, inFlight: 0, drained: [] };
    this.connections.add(connection);
    logger.info({ subject: socket.getPeerX509Certificate()?.subject }, 'client connected');

    const respond = (response: AgentResponse): void => {
      if (!socket.destroyed && socket.writable) {
        socket.write(encodeLine(response));
      }
      this.throttle(connection);
    };
    const splitter = new LineSplitter({
      line: (text) => {
        connection.inFlight += 1;
        this.throttle(connection);
        void this.options.dispatcher.handleLine(text, logger).then((response) => {
          connection.inFlight -= 1;
          respond(response);
          if (connection.inFlight === 0) {
            connection.drained.splice(0).forEach((wake) => wake());
          }
        });
      },
      oversize: () => respond(this.options.dispatcher.oversize(logger)),
    });

    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    socket.on('drain', () => this.throttle(connection));
    socket.on('error', (error) => logger.debug({ reason: error.message }, 'connection error'));
    socket.on('close', () => {
      this.connections.delete(connection);
      connection.drained.splice(0).forEach((wake) => wake());
      logger.info('client disconnected');
    });
  }

  /** Reads from a peer only while it has few requests running and reads its answers. */
  private throttle(connection: Connection): void {
    const { socket } = connection;
    const busy = connection.inFlight >= MAX_IN_FLIGHT || socket.writableLength > MAX_UNSENT_BYTES;
    if (busy || this.stopping) {
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
    this.options.logger.info('agent stopped listening');
  }
}
