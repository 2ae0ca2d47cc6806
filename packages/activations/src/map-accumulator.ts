/**
 * Streaming per-pixel statistics of masked copies: for R variables v (selected neurons' activations and the
 * output y) and the mask value m(q) of every map cell q, the sums that give Pearson r(m(q), v) and the RISE
 * saliency sum v·m(q) / sum m(q), in float64, shifted by the first copy so large means do not cancel. Memory is
 * R x cells, never the number of copies.
 */

/** Mask resolution: the map is the model input pooled into square blocks of `block` pixels (the last ones partial). */
export interface MapGrid {
  /** Model input height and width, in pixels. */
  readonly height: number;
  readonly width: number;
  /** Side of the square block of input pixels one map cell averages. */
  readonly block: number;
  readonly mapHeight: number;
  readonly mapWidth: number;
}

/** The grid whose longer side has at most `maxSide` cells: blocks of ceil(max(H, W) / maxSide) pixels. */
export function mapGrid(height: number, width: number, maxSide: number): MapGrid {
  const block = Math.max(1, Math.ceil(Math.max(height, width) / maxSide));
  return { height, width, block, mapHeight: Math.ceil(height / block), mapWidth: Math.ceil(width / block) };
}

/** Pools a height x width mask into the grid's cells (mean over each block) into `out`. */
export function poolMask(mask: Float32Array, grid: MapGrid, out: Float64Array, scratch = poolScratch(grid)): void {
  const { height, width, block, mapWidth } = grid;
  if (mask.length !== height * width) throw new Error(`mask of ${mask.length} values for ${height}x${width}`);
  out.fill(0);
  for (let y = 0; y < height; y++) {
    const rowBase = Math.floor(y / block) * mapWidth;
    const m = y * width;
    for (let x = 0; x < width; x++) out[rowBase + scratch.cellOfColumn[x]!]! += mask[m + x]!;
  }
  for (let q = 0; q < out.length; q++) out[q]! *= scratch.inverseCount[q]!;
}

/** Precomputed column-to-cell indices and 1 / pixels per cell. */
export function poolScratch(grid: MapGrid): { cellOfColumn: Int32Array; inverseCount: Float64Array } {
  const { height, width, block, mapHeight, mapWidth } = grid;
  const cellOfColumn = Int32Array.from({ length: width }, (_, x) => Math.floor(x / block));
  const inverseCount = new Float64Array(mapHeight * mapWidth);
  for (let i = 0; i < mapHeight; i++) {
    for (let j = 0; j < mapWidth; j++) {
      const rows = Math.min(block, height - i * block);
      const cols = Math.min(block, width - j * block);
      inverseCount[i * mapWidth + j] = 1 / (rows * cols);
    }
  }
  return { cellOfColumn, inverseCount };
}

/** Pearson maps and RISE saliency of R variables over masked copies; see the module comment. */
export class MapAccumulator {
  count = 0;
  readonly cells: number;
  private readonly scratch: ReturnType<typeof poolScratch>;
  private readonly pooled: Float64Array;
  private readonly centred: Float64Array;
  private readonly maskShift: Float64Array;
  private readonly valueShift: Float64Array;
  private readonly sumM: Float64Array;
  private readonly sumMM: Float64Array;
  private readonly sumV: Float64Array;
  private readonly sumVV: Float64Array;
  /** R x cells: sum of (v - v0)(m - m0). */
  private readonly sumVM: Float64Array;

  constructor(
    readonly rows: number,
    readonly grid: MapGrid,
  ) {
    this.cells = grid.mapHeight * grid.mapWidth;
    this.scratch = poolScratch(grid);
    this.pooled = new Float64Array(this.cells);
    this.centred = new Float64Array(this.cells);
    this.maskShift = new Float64Array(this.cells);
    this.valueShift = new Float64Array(rows);
    this.sumM = new Float64Array(this.cells);
    this.sumMM = new Float64Array(this.cells);
    this.sumV = new Float64Array(rows);
    this.sumVV = new Float64Array(rows);
    this.sumVM = new Float64Array(rows * this.cells);
  }

  /** Adds one copy: its height x width mask (1 = pixel kept) and the R variables' values on it. */
  add(mask: Float32Array, values: ArrayLike<number>): void {
    if (values.length !== this.rows) throw new Error(`expected ${this.rows} values, got ${values.length}`);
    poolMask(mask, this.grid, this.pooled, this.scratch);
    this.addPooled(this.pooled, values);
  }

  /** Adds one copy whose mask is already pooled to the grid (`cells` values). */
  addPooled(pooled: Float64Array, values: ArrayLike<number>): void {
    const { cells, rows } = this;
    if (this.count === 0) {
      this.maskShift.set(pooled);
      for (let r = 0; r < rows; r++) this.valueShift[r] = values[r]!;
    }
    this.count++;
    const centred = this.centred;
    for (let q = 0; q < cells; q++) {
      const d = pooled[q]! - this.maskShift[q]!;
      centred[q] = d;
      this.sumM[q]! += d;
      this.sumMM[q]! += d * d;
    }
    for (let r = 0; r < rows; r++) {
      const e = values[r]! - this.valueShift[r]!;
      if (e === 0 || Number.isNaN(e)) {
        if (Number.isNaN(e)) this.sumV[r] = Number.NaN;
        continue;
      }
      this.sumV[r]! += e;
      this.sumVV[r]! += e * e;
      const row = this.sumVM.subarray(r * cells, (r + 1) * cells);
      for (let q = 0; q < cells; q++) row[q]! += e * centred[q]!;
    }
  }

  /** Mean and population standard deviation of variable `r` over the copies. */
  valueStats(r: number): { mean: number; std: number } {
    const n = this.count;
    const m = this.sumV[r]! / n;
    return { mean: this.valueShift[r]! + m, std: Math.sqrt(Math.max(0, this.sumVV[r]! / n - m * m)) };
  }

  /**
   * Pearson r between each cell's mask value and variable `r`, row-major over the grid; NaN everywhere when
   * the variable is constant over the copies, NaN at a cell whose mask never varies.
   */
  pearson(r: number): Float32Array {
    const { cells, count: n } = this;
    const out = new Float32Array(cells);
    const mv = this.sumV[r]! / n;
    const varV = this.sumVV[r]! / n - mv * mv;
    const tiny = 1e-12 * Math.max(1, Math.abs(this.valueShift[r]!)) ** 2;
    if (!(varV > tiny) || n < 2) return out.fill(Number.NaN);
    const sdV = Math.sqrt(varV);
    const row = this.sumVM.subarray(r * cells, (r + 1) * cells);
    for (let q = 0; q < cells; q++) {
      const mm = this.sumM[q]! / n;
      const varM = this.sumMM[q]! / n - mm * mm;
      if (!(varM > 1e-12)) {
        out[q] = Number.NaN;
        continue;
      }
      const rho = (row[q]! / n - mv * mm) / (sdV * Math.sqrt(varM));
      out[q] = Math.max(-1, Math.min(1, rho));
    }
    return out;
  }

  /**
   * RISE saliency of variable `r`: sum over copies of v·m(q) / sum of m(q), the mean of v weighted by how much
   * of the cell each copy keeps (Petsiuk et al. 2018, normalised by the empirical mask mean per cell).
   */
  rise(r: number): Float32Array {
    const { cells, count: n } = this;
    const out = new Float32Array(cells);
    const v0 = this.valueShift[r]!;
    const sv = this.sumV[r]!;
    const row = this.sumVM.subarray(r * cells, (r + 1) * cells);
    for (let q = 0; q < cells; q++) {
      const m0 = this.maskShift[q]!;
      const sm = this.sumM[q]!;
      const sumVM = row[q]! + m0 * sv + v0 * sm + n * v0 * m0;
      const sumM = sm + n * m0;
      out[q] = sumM > 0 ? sumVM / sumM : Number.NaN;
    }
    return out;
  }
}
