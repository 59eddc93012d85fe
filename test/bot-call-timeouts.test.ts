/**
 * The bot waits longer for each agent command than the agent itself may take to answer it, so
 * a slow create or remove is heard (done, or the agent's own TIMEOUT) instead of given up on.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { answerLimitMs, DEFAULT_OPERATION_TIMEOUT_MS } from '../agent/handlers.ts';
import { UPDATE_TIMEOUT_MS } from '../agent/provision/commands.ts';
import { AGENT_COMMANDS, ANSWER_WITHIN_MS, CALL_GRACE_MS } from '../agent/protocol.ts';
import {
  CREATE_TIMEOUT_MS,
  KILL_GRACE_MS,
  QUERY_TIMEOUT_MS,
  STOP_TIMEOUT_MS,
} from '../agent/run.ts';
import { callWaitMs } from '../src/agent-client.ts';

describe('agent call timeouts', () => {
  test('create, remove and stop wait longer than the agent runs vzctl for them', () => {
    assert.ok(callWaitMs('create') > CREATE_TIMEOUT_MS + KILL_GRACE_MS);
    assert.ok(callWaitMs('create') > DEFAULT_OPERATION_TIMEOUT_MS);
    assert.ok(callWaitMs('remove') > 2 * (STOP_TIMEOUT_MS + KILL_GRACE_MS));
    assert.ok(callWaitMs('remove') > DEFAULT_OPERATION_TIMEOUT_MS);
    assert.ok(callWaitMs('stop') > STOP_TIMEOUT_MS + QUERY_TIMEOUT_MS + KILL_GRACE_MS);
    assert.ok(callWaitMs('update') > UPDATE_TIMEOUT_MS);
  });

  test('the agent gives each command as long as its programs may run, and answers first', () => {
    assert.ok(answerLimitMs('create') > CREATE_TIMEOUT_MS + KILL_GRACE_MS);
    assert.ok(answerLimitMs('remove') > 2 * (STOP_TIMEOUT_MS + KILL_GRACE_MS));
    for (const command of AGENT_COMMANDS) {
      assert.ok(answerLimitMs(command) < callWaitMs(command), command);
    }
  });

  test('every command has its own wait, and queries stay short', () => {
    for (const command of AGENT_COMMANDS) {
      assert.equal(callWaitMs(command), ANSWER_WITHIN_MS[command] + CALL_GRACE_MS, command);
    }
    assert.ok(callWaitMs('list') < 60_000);
    assert.ok(callWaitMs('ping') < 30_000);
  });
});
