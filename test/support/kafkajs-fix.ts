/** kafkajs's read_committed filter corrected before any test loads kafkajs (see src/kafka/read-committed-fix.ts). */
import '../../src/kafka/read-committed-fix.js';
