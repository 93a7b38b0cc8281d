import * as React from 'react';

import { formatNumber } from './format';

/** A point of a line: [x, y]. */
export type XY = [number, number];

/** The smallest box that holds every point (a flat range is widened so that it still draws). */
interface IBounds {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** Where the points are drawn, in SVG units. */
interface IBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

function boundsOf(lines: XY[][]): IBounds {
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const line of lines) {
    for (const [x, y] of line) {
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
  }
  if (x0 > x1) {
    return { x0: 0, x1: 1, y0: 0, y1: 1 };
  }
  return { x0, x1, y0, y1 };
}

/** Map a point into the box: x grows rightwards, y upwards. */
function place(point: XY, b: IBounds, box: IBox): XY {
  const xSpan = b.x1 - b.x0;
  const ySpan = b.y1 - b.y0;
  const x =
    box.left +
    (xSpan ? ((point[0] - b.x0) / xSpan) * box.width : box.width / 2);
  const y =
    box.top +
    box.height -
    (ySpan ? ((point[1] - b.y0) / ySpan) * box.height : box.height / 2);
  return [x, y];
}

function polyline(line: XY[], b: IBounds, box: IBox): string {
  return line
    .map(p => {
      const [x, y] = place(p, b, box);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}

/**
 * Smoothed by an exponential moving average with TensorBoard's weight (0 keeps the line, 0.99 nearly flattens
 * it), debiased so that the start is not pulled towards zero. Non-finite values pass through unsmoothed.
 */
export function smooth(points: XY[], weight: number): XY[] {
  if (weight <= 0) {
    return points;
  }
  let last = 0;
  let count = 0;
  return points.map(([x, y]): XY => {
    if (!Number.isFinite(y)) {
      return [x, y];
    }
    last = last * weight + (1 - weight) * y;
    count += 1;
    return [x, last / (1 - Math.pow(weight, count))];
  });
}

/**
 * At most `threshold` of the points, chosen by largest-triangle-three-buckets (the first and last kept, one
 * point per bucket that keeps the line's shape): for drawing only, so a long series costs what its pixels do.
 */
export function downsample(points: XY[], threshold: number): XY[] {
  const n = points.length;
  if (threshold >= n || threshold < 3) {
    return points;
  }
  const out: XY[] = [points[0]];
  const every = (n - 2) / (threshold - 2);
  let a = 0;
  for (let bucket = 0; bucket < threshold - 2; bucket++) {
    // The average of the next bucket is the third corner of the triangle.
    const nextStart = Math.floor((bucket + 1) * every) + 1;
    const nextEnd = Math.min(Math.floor((bucket + 2) * every) + 1, n);
    let avgX = 0;
    let avgY = 0;
    for (let i = nextStart; i < nextEnd; i++) {
      avgX += points[i][0];
      avgY += points[i][1];
    }
    const size = Math.max(1, nextEnd - nextStart);
    avgX /= size;
    avgY /= size;
    const start = Math.floor(bucket * every) + 1;
    const end = Math.floor((bucket + 1) * every) + 1;
    const [ax, ay] = points[a];
    let best = start;
    let bestArea = -1;
    for (let i = start; i < end; i++) {
      const area = Math.abs(
        (ax - avgX) * (points[i][1] - ay) - (ax - points[i][0]) * (avgY - ay)
      );
      if (area > bestArea) {
        bestArea = area;
        best = i;
      }
    }
    out.push(points[best]);
    a = best;
  }
  out.push(points[n - 1]);
  return out;
}

/** A tiny line of values in the order they came (no axes). */
export function Sparkline(props: { values: number[] }): JSX.Element | null {
  const { values } = props;
  if (values.length < 2) {
    return null;
  }
  const width = 64;
  const height = 16;
  const line = values.map((v, i): XY => [i, v]);
  return (
    <svg
      className="jp-nblift-sparkline"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      aria-hidden="true"
    >
      <polyline
        points={polyline(line, boundsOf([line]), {
          left: 0,
          top: 1,
          width,
          height: height - 2
        })}
      />
    </svg>
  );
}

/** Lines beyond this many colours repeat them, dashed. */
export const SERIES_COLOURS = 5;

/** The classes that give series `index` its colour (and dash). */
export function seriesClass(index: number): string {
  const dashed = Math.floor(index / SERIES_COLOURS) % 2 === 1;
  return (
    `jp-nblift-series jp-nblift-series-${index % SERIES_COLOURS}` +
    (dashed ? ' jp-nblift-series-dashed' : '')
  );
}

/** A short line in series `index`'s colour, for legends. */
export function SeriesSwatch(props: { index: number }): JSX.Element {
  return (
    <svg
      className="jp-nblift-swatch"
      width={18}
      height={8}
      viewBox="0 0 18 8"
      aria-hidden="true"
    >
      <line className={seriesClass(props.index)} x1={1} y1={4} x2={17} y2={4} />
    </svg>
  );
}

export interface ISeries {
  /** What the legend calls it. */
  name: string;
  /** Its colour: the same index keeps the same colour across charts. */
  index: number;
  points: XY[];
}

/** The width of `ref`'s element, followed as it resizes. */
function useWidth(ref: React.RefObject<HTMLElement>, initial: number): number {
  const [width, setWidth] = React.useState(initial);
  React.useLayoutEffect(() => {
    const element = ref.current;
    if (!element) {
      return;
    }
    const measure = (): void => {
      const w = Math.floor(element.getBoundingClientRect().width);
      if (w > 0) {
        setWidth(w);
      }
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, [ref]);
  return width;
}

const HEIGHT = 132;
const FONT_PX = 10;

/** How a line chart draws its series. */
export interface ILineOptions {
  /** TensorBoard's smoothing weight, 0 (none) to 0.99; the raw line stays behind, faded. */
  smoothing?: number;
  /** y on a log10 scale (values <= 0 are left out). */
  logY?: boolean;
  /** How an x value reads (default: a number). */
  formatX?: (x: number) => string;
}

/** A series as drawn: finite points, smoothed, on the y scale, at most `limit` points. */
interface IDrawn {
  series: ISeries;
  raw: XY[];
  smoothed: XY[] | null;
}

function drawnSeries(
  series: ISeries[],
  options: ILineOptions,
  limit: number
): IDrawn[] {
  const weight = Math.min(0.99, Math.max(0, options.smoothing ?? 0));
  const scale = (line: XY[]): XY[] => {
    const kept = options.logY
      ? line.filter(p => p[1] > 0).map(([x, y]): XY => [x, Math.log10(y)])
      : line;
    return downsample(kept, limit);
  };
  return series.map(s => {
    const finite = s.points.filter(
      p => Number.isFinite(p[0]) && Number.isFinite(p[1])
    );
    return {
      series: s,
      raw: scale(finite),
      smoothed:
        weight > 0 && finite.length > 1 ? scale(smooth(finite, weight)) : null
    };
  });
}

/**
 * Several lines on one plot: axes with their minimum and maximum, one colour per series and a legend.
 * Drawn at the width it is given, so labels keep their size in a narrow sidebar; a long series is
 * downsampled to about two points per pixel column for drawing.
 */
export function LineChart(
  props: {
    /** What is plotted (the chart's accessible name). */
    label: string;
    /** What x counts (step, seconds). */
    xLabel: string;
    series: ISeries[];
  } & ILineOptions
): JSX.Element {
  const { label, xLabel, series, logY } = props;
  const formatX = props.formatX ?? formatNumber;
  const frame = React.useRef<HTMLDivElement>(null);
  const width = useWidth(frame, 240);
  const limit = Math.max(3, Math.round(width * 2));
  const drawn = React.useMemo(
    () => drawnSeries(series, { smoothing: props.smoothing, logY }, limit),
    [series, props.smoothing, logY, limit]
  );
  const b = boundsOf(drawn.flatMap(d => [d.raw, d.smoothed ?? []]));
  const formatY = (y: number): string => formatNumber(logY ? 10 ** y : y);
  const yLabels = [formatY(b.y1), formatY(b.y0)];
  const left = 6 + Math.max(...yLabels.map(t => t.length)) * FONT_PX * 0.6;
  const box: IBox = {
    left,
    top: 6,
    width: Math.max(20, width - left - 8),
    height: HEIGHT - 6 - 22
  };
  const bottom = box.top + box.height;
  const yTitle = logY ? 'log scale' : null;
  return (
    <figure className="jp-nblift-chart" aria-label={`${label} chart`}>
      <figcaption>{label}</figcaption>
      <div ref={frame} className="jp-nblift-chart-frame">
        <svg
          width={width}
          height={HEIGHT}
          viewBox={`0 0 ${width} ${HEIGHT}`}
          role="img"
          aria-label={`${label} by ${xLabel}${yTitle ? `, ${yTitle}` : ''}, ${series.length} runs`}
        >
          <g className="jp-nblift-axis">
            <line x1={left} y1={box.top} x2={left} y2={bottom} />
            <line x1={left} y1={bottom} x2={left + box.width} y2={bottom} />
            <text x={left - 4} y={box.top + FONT_PX * 0.8} textAnchor="end">
              {yLabels[0]}
            </text>
            <text x={left - 4} y={bottom} textAnchor="end">
              {yLabels[1]}
            </text>
            <text x={left} y={bottom + FONT_PX + 3} textAnchor="start">
              {formatX(b.x0)}
            </text>
            <text
              x={left + box.width / 2}
              y={bottom + FONT_PX + 3}
              textAnchor="middle"
              className="jp-nblift-axis-title"
            >
              {yTitle ? `${xLabel} (y: ${yTitle})` : xLabel}
            </text>
            <text
              x={left + box.width}
              y={bottom + FONT_PX + 3}
              textAnchor="end"
            >
              {formatX(b.x1)}
            </text>
          </g>
          {drawn.map(({ series: s, raw, smoothed }) => {
            const last = s.points[s.points.length - 1];
            const tip = last
              ? `${s.name}: ${formatNumber(last[1])} at ${xLabel} ${formatX(last[0])}`
              : s.name;
            if (raw.length === 1 && !smoothed) {
              const [x, y] = place(raw[0], b, box);
              return (
                <circle
                  key={s.index}
                  className={seriesClass(s.index)}
                  cx={x}
                  cy={y}
                  r={2.5}
                >
                  <title>{tip}</title>
                </circle>
              );
            }
            const main = smoothed ?? raw;
            return (
              <g key={s.index}>
                {smoothed && (
                  <polyline
                    className={`${seriesClass(s.index)} jp-nblift-series-raw`}
                    points={polyline(raw, b, box)}
                    aria-hidden="true"
                  />
                )}
                <polyline
                  className={seriesClass(s.index)}
                  points={polyline(main, b, box)}
                  data-points={main.length}
                  data-source-points={s.points.length}
                >
                  <title>{tip}</title>
                </polyline>
              </g>
            );
          })}
        </svg>
      </div>
      <ul className="jp-nblift-legend" aria-label={`${label} legend`}>
        {series.map(s => (
          <li key={s.index}>
            <SeriesSwatch index={s.index} />
            <span>{s.name}</span>
          </li>
        ))}
      </ul>
    </figure>
  );
}

/** One value per run: the bar's series index (its colour), name and value. */
export interface IBar {
  name: string;
  index: number;
  value: number;
}

const BAR_ROW = 20;

/**
 * A metric logged once per run, as horizontal bars from zero (or from the smallest value when some are
 * negative), each labelled with its value: a scalar is compared by length, not as a dot on a step axis.
 */
export function BarChart(props: { label: string; bars: IBar[] }): JSX.Element {
  const { label, bars } = props;
  const frame = React.useRef<HTMLDivElement>(null);
  const width = useWidth(frame, 240);
  const values = bars.map(b => b.value);
  const lo = Math.min(0, ...values);
  const hi = Math.max(0, ...values);
  const span = hi - lo || 1;
  const texts = bars.map(b => formatNumber(b.value));
  const right = 8 + Math.max(...texts.map(t => t.length)) * FONT_PX * 0.6;
  const left = 4;
  const inner = Math.max(20, width - left - right);
  const height = bars.length * BAR_ROW + 4;
  const x = (v: number): number => left + ((v - lo) / span) * inner;
  return (
    <figure
      className="jp-nblift-chart jp-nblift-bars"
      aria-label={`${label} chart`}
    >
      <figcaption>{label}</figcaption>
      <div ref={frame} className="jp-nblift-chart-frame">
        <svg
          width={width}
          height={height}
          viewBox={`0 0 ${width} ${height}`}
          role="img"
          aria-label={`${label}, one value per run, ${bars.length} runs`}
        >
          <g className="jp-nblift-axis">
            <line x1={x(0)} y1={0} x2={x(0)} y2={height} />
          </g>
          {bars.map((b, row) => {
            const a = x(Math.min(0, b.value));
            const z = x(Math.max(0, b.value));
            const y = 2 + row * BAR_ROW;
            return (
              <g key={b.index}>
                <rect
                  className={`jp-nblift-bar-rect ${seriesClass(b.index)}`}
                  x={a}
                  y={y + 3}
                  width={Math.max(1, z - a)}
                  height={BAR_ROW - 6}
                >
                  <title>{`${b.name}: ${texts[row]}`}</title>
                </rect>
                <text
                  className="jp-nblift-bar-value"
                  x={z + 4}
                  y={y + BAR_ROW / 2 + FONT_PX * 0.35}
                >
                  {texts[row]}
                </text>
              </g>
            );
          })}
        </svg>
      </div>
      <ul className="jp-nblift-legend" aria-label={`${label} legend`}>
        {bars.map(b => (
          <li key={b.index}>
            <SeriesSwatch index={b.index} />
            <span>{b.name}</span>
          </li>
        ))}
      </ul>
    </figure>
  );
}
