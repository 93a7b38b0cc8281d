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

/**
 * Several lines on one plot: axes with their minimum and maximum, one colour per series and a legend.
 * Drawn at the width it is given, so labels keep their size in a narrow sidebar.
 */
export function LineChart(props: {
  /** What is plotted (the chart's accessible name). */
  label: string;
  /** What x counts (step, seconds). */
  xLabel: string;
  series: ISeries[];
}): JSX.Element {
  const { label, xLabel, series } = props;
  const frame = React.useRef<HTMLDivElement>(null);
  const width = useWidth(frame, 240);
  const b = boundsOf(series.map(s => s.points));
  const yLabels = [formatNumber(b.y1), formatNumber(b.y0)];
  const left = 6 + Math.max(...yLabels.map(t => t.length)) * FONT_PX * 0.6;
  const box: IBox = {
    left,
    top: 6,
    width: Math.max(20, width - left - 8),
    height: HEIGHT - 6 - 22
  };
  const bottom = box.top + box.height;
  return (
    <figure className="jp-nblift-chart" aria-label={`${label} chart`}>
      <figcaption>{label}</figcaption>
      <div ref={frame} className="jp-nblift-chart-frame">
        <svg
          width={width}
          height={HEIGHT}
          viewBox={`0 0 ${width} ${HEIGHT}`}
          role="img"
          aria-label={`${label} by ${xLabel}, ${series.length} runs`}
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
              {formatNumber(b.x0)}
            </text>
            <text
              x={left + box.width / 2}
              y={bottom + FONT_PX + 3}
              textAnchor="middle"
              className="jp-nblift-axis-title"
            >
              {xLabel}
            </text>
            <text
              x={left + box.width}
              y={bottom + FONT_PX + 3}
              textAnchor="end"
            >
              {formatNumber(b.x1)}
            </text>
          </g>
          {series.map(s => {
            const last = s.points[s.points.length - 1];
            const tip = last
              ? `${s.name}: ${formatNumber(last[1])} at ${xLabel} ${formatNumber(last[0])}`
              : s.name;
            if (s.points.length === 1) {
              const [x, y] = place(s.points[0], b, box);
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
            return (
              <polyline
                key={s.index}
                className={seriesClass(s.index)}
                points={polyline(s.points, b, box)}
              >
                <title>{tip}</title>
              </polyline>
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
