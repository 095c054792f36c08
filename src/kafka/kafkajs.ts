/**
 * kafkajs's runtime values, loaded after the read_committed fix is installed
 * (read-committed-fix.ts): every value import of kafkajs goes through here
 * (types may be imported from 'kafkajs' directly).
 */
import { createRequire } from 'node:module';
import { installReadCommittedFix } from './read-committed-fix.js';

installReadCommittedFix();
const kafkajs = createRequire(import.meta.url)('kafkajs') as typeof import('kafkajs');

export const { Kafka, Partitioners, logLevel, AssignerProtocol, PartitionAssigners, CompressionTypes, ConfigResourceTypes } = kafkajs;
