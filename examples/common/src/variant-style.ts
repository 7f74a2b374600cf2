/** How the figures draw the three model variants (standard, BN, noisy BN): one label, color and dash each. */
import { PALETTE } from '@normlab/plot';
import type { ModelVariant } from './mnist.js';

export const VARIANT_STYLE: Record<ModelVariant, { label: string; color: string; dash?: string }> = {
  standard: { label: 'Standard', color: PALETTE[1] },
  bn: { label: 'Standard + BatchNorm', color: PALETTE[0] },
  'noisy-bn': { label: 'Standard + "Noisy" BatchNorm', color: PALETTE[2], dash: '7 4' },
};
