/** Argument declarations several commands share, with the ranges the dispatcher checks. */
import { VE_ID_MAX, VE_ID_MIN } from '../agent/protocol.ts';
import type { ArgSpec } from './types.ts';

/** A VE ID as OpenVZ allows it. */
export const VE_ID_ARG: ArgSpec = { name: 'ID', type: 'int', min: VE_ID_MIN, max: VE_ID_MAX };

/** A request number (SQLite row ids start at 1). */
export const REQUEST_ARG: ArgSpec = { name: 'N', type: 'int', min: 1, max: 2 ** 31 - 1 };
