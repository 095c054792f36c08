/** kafkajs's internals patched before any test loads kafkajs (see src/kafka/kafkajs-patches.ts). */
import '../../src/kafka/kafkajs-patches.js';
