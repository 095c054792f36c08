/**
 * kafkajs's runtime values, loaded after its internals are patched
 * (kafkajs-patches.ts): every value import of kafkajs goes through here
 * (types may be imported from 'kafkajs' directly).
 */
import { createRequire } from 'node:module';
import './kafkajs-patches.js';

const kafkajs = createRequire(import.meta.url)('kafkajs') as typeof import('kafkajs');

export const { Kafka, Partitioners, logLevel, AssignerProtocol, PartitionAssigners, CompressionTypes, ConfigResourceTypes } = kafkajs;
