/**
 * Run by policy-hash.test.ts as a separate process (`node --import tsx`): builds the manager that
 * `configurePolicy` describes and prints its policy hash.
 */
import { ThrottleManager } from '../../src/index.js';
import { configurePolicy } from './policy-fixture.js';

const manager = new ThrottleManager({ env: {} });
configurePolicy(manager, process.argv[2] === 'reversed');
process.stdout.write(`${manager.policyHash()}\n`);
await manager.close();
