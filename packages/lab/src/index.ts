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
export { tQuantile975, meanCi, type MeanCi } from './confidence.js';
export {
  parseSweep, expandSweep, flagOf, flagArgs, type SweepSpec, type SweepRun, type MetricsSpec, type SlurmSpec, type FlagValue, type RunSummary,
} from './sweep-spec.js';
export { aggregateSweep, reduceRun, type SweepAggregate, type SeriesAggregate, type MetricAggregate, type RunSummaryAggregate } from './aggregate.js';
export { summaryMarkdown, describeSummary, metricFigures, reportHtml, type ReportContext } from './sweep-report.js';
export {
  runLocal, runSlurm, runState, runDir, runArgs, slurmScript, shellQuote,
  type SweepLayout, type SweepRunState, type ExampleCommand, type SweepProgress, type LocalOptions, type SlurmOptions, type ExecResult,
} from './sweep-exec.js';
export {
  sweepCli, parseSweepArgs, loadSweepFile, writeAggregate, describeProgress, SWEEP_USAGE, SweepUsageError,
  type SweepCliOptions, type SweepIo, type SweepEnv,
} from './sweep-cli.js';
