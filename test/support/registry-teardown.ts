// Setup file of the integration project: after each test file, close the
// file's test schema registry (test-registry.ts), if the file opened it.
import { afterAll } from 'vitest';
import { closeTestRegistry } from './test-registry.js';

afterAll(closeTestRegistry);
