/**
 * @normlab/lab: run folders that survive interruptions. A run holds its
 * config, a status, an append-only metrics log and its checkpoints; a new
 * run never overwrites an old one; Ctrl-C saves a checkpoint before exiting;
 * resuming takes the newest checkpoint that loads.
 */
export { RunError } from './errors.js';
export { writeFileAtomic, removeStaleTempFiles, TEMP_FILE } from './atomic-write.js';
export { MetricsLog, readMetrics, type MetricsRecord, type MetricsRead } from './metrics-log.js';
export { CheckpointStore, type CheckpointFile, type LoadedCheckpoint, type SkippedCheckpoint } from './checkpoints.js';
export { RunDir, type RunState, type RunStatus, type CreateOptions } from './run-dir.js';
export { watchInterrupt, type Interrupt } from './interrupt.js';
export { codeVersion, type CodeVersion } from './code-version.js';
