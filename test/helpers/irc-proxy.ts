/**
 * A line-aware TCP relay between one IRC client (the bot) and a real server. It records every
 * line in both directions, so a test can check what the bot asked the server, and it can hide
 * the WHOX token from the server's ISUPPORT (005) lines: that turns InspIRCd, which always has
 * WHOX, into a server the bot must query with WHOIS. Nothing else is changed, but lines are
 * re-encoded as UTF-8: not for tests of invalid bytes.
 *
 *   const proxy = await startIrcProxy(server.port, { hideWhox: true });
 *   // connect the bot to 127.0.0.1:proxy.port; proxy.sent / proxy.received hold the lines
 */
import net from 'node:net';

export interface IrcProxy {
  port: number;
  /** Lines the client sent to the server, without CRLF. */
  sent: string[];
  /** Lines the server sent to the client, as forwarded (after any rewrite), without CRLF. */
  received: string[];
  close(): Promise<void>;
}

export async function startIrcProxy(
  upstreamPort: number,
  options: { hideWhox?: boolean } = {},
): Promise<IrcProxy> {
  const sockets = new Set<net.Socket>();
  const proxy: IrcProxy = {
    port: 0,
    sent: [],
    received: [],
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      relay.close(() => resolve());
    }),
  };
  const rewrite = (line: string): string => (options.hideWhox && / 005 /.test(line)
    ? line.replace(/ WHOX(=\S*)?(?= )/, '')
    : line);

  const relay = net.createServer((inbound) => {
    const outbound = net.connect(upstreamPort, '127.0.0.1');
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        inbound.destroy();
        outbound.destroy();
      });
    }
    pipeLines(inbound, outbound, (line) => {
      proxy.sent.push(line);
      return line;
    });
    pipeLines(outbound, inbound, (line) => {
      const forwarded = rewrite(line);
      proxy.received.push(forwarded);
      return forwarded;
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  proxy.port = (relay.address() as net.AddressInfo).port;
  return proxy;
}

/** Forwards whole lines from `from` to `to`, each passed through `map` first. */
function pipeLines(from: net.Socket, to: net.Socket, map: (line: string) => string): void {
  let buffer = Buffer.alloc(0);
  from.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    let end: number;
    while ((end = buffer.indexOf('\n')) !== -1) {
      const line = buffer.subarray(0, end).toString('utf8').replace(/\r$/, '');
      buffer = buffer.subarray(end + 1);
      if (!to.destroyed) to.write(`${map(line)}\r\n`);
    }
  });
}
