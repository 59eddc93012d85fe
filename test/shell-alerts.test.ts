/** The terminal adapter's unprompted output: an alert while someone types keeps the prompt. */
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';

import { ShellAdapter } from '../adapters/shell.ts';

describe('shell adapter alerts at the prompt', () => {
  it('clears the half-typed line, prints the alert, then redraws prompt and typing', async () => {
    const input = new PassThrough();
    let screen = '';
    const output = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        screen += chunk.toString();
        done();
      },
    });
    const shell = new ShellAdapter({ input, output, login: 'me', prompt: true });
    await shell.start(async () => {});
    input.write('!ve u');
    await new Promise((resolve) => setImmediate(resolve));
    screen = '';

    await shell.send({ kind: 'alerts' }, { lines: ['Beancounters on node1: 1 VE hit a limit'] });

    const alert = screen.indexOf('[alerts] Beancounters on node1: 1 VE hit a limit\n');
    assert.ok(alert > 0, JSON.stringify(screen));
    // ESC[2K (erase the line) and a return to column 1 come before the alert.
    assert.match(screen.slice(0, alert), /\x1b\[2K/);
    // The prompt comes back with the typing, the cursor after it (ESC[<column>G).
    assert.match(screen.slice(alert), /\n(\x1b\[\d*[GJK])*shell:me> !ve u(\x1b\[\d+G)?$/);
    await shell.stop();
  });

  it('prints piped sessions as plain lines, with no escape codes', async () => {
    const input = new PassThrough();
    let screen = '';
    const output = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        screen += chunk.toString();
        done();
      },
    });
    const shell = new ShellAdapter({ input, output, login: 'me' });
    await shell.start(async () => {});
    await shell.send({ kind: 'user', identity: 'shell:me' }, { lines: ['one', 'two'] });
    assert.equal(screen, '[to shell:me] one\n[to shell:me] two\n');
    input.end();
    await shell.stop();
  });
});
