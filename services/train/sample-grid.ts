// The sample grid every GAN run writes: 64 images from a fixed z, 8 per row.
export const SAMPLE_GRID_SHAPE = { n: 64, height: 28, width: 28, cols: 8 } as const;
