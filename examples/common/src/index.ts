/**
 * @normlab/example-kit: what the examples (mnist-bn, noisy-bn, ics,
 * landscape) share: flag parsing with clear usage errors, the CLI wrapper
 * (--help, exit codes), progress bars and lines, run directories, CSV/JSON,
 * figures as SVG + PNG, summary tables, percentile bands and log axes;
 * `--device gpu` (registering @normlab/gpu, data in device chunks, memory traces).
 */
export {
  UsageError, RunError, COMMON_DEFAULTS, parseFlags, parseValue, flagName, orList, commonFlags, dataFlags, checkBatch, checkLearningRates, commonUsage, PROGRESS_MODES,
  type CommonOptions, type DataOptions, type FlagKind, type FlagSpec, type Flags, type HelpOption, type ProgressOption,
} from './args.js';
export { Progress, formatDuration, resolveProgressMode, rateMeter, grid, type ProgressInfo, type ProgressMode, type Writer } from './progress.js';
export {
  runCli, defineCli, main, runId, captureIo, withRun, resumeOptions, openRunToResume, restoreResult, runConfig, logResult, RunInterrupted, usageBehaviour, writeJson, toCsv, writeFigure, formatTable, pathsWritten, defaultIo, REPO_ROOT,
  type Io, type CliSpec, type Cell, type RunContext,
} from './cli.js';
export { logDomain, log10Format, median, quantile, fmtNumber, fmtPercent, standardVsBn, percentileShift } from './stats.js';
export {
  buildMnistNet, loadMnistTensors, takeRows, evaluate, permutation, batchIndices, trainSgd, MODEL_VARIANTS, ARCHS,
  type SgdRunOptions, type SgdHooks, type ModelVariant, type Arch, type MnistNet, type MnistNetOptions, type MnistTensors,
} from './mnist.js';
export { VARIANT_STYLE } from './variant-style.js';
export { NOISE_DEFAULTS, noiseFlags, checkNoise, noiseUsage, noiseLayerOptions, describeNoise, type NoiseFlagOptions } from './noise-flags.js';
export {
  useDevice, describeDevice, gpuModeAvailable, deviceMemory, maxRowsPerArray, toDeviceChunks, batchTo, moveModule, disposeModule, formatMemory, MemoryTrace,
  DeviceUnavailableError, DEVICES, type DeviceName, type DeviceInfo, type DataChunk, type MemorySummary,
} from './device.js';
