import * as React from 'react';

import { ITrackedRun } from '../api';
import { seriesClass } from './charts';
import { formatNumber } from './format';

/** Axes beyond this many parameters are left out (those that differ between the runs come first). */
export const MAX_PARAMETER_AXES = 12;

/** One vertical axis: a parameter or the chosen metric, numeric or categorical. */
interface IAxis {
  key: string;
  /** A run's position on the axis, 0 (bottom) to 1 (top); null where the run has no value. */
  position: (run: ITrackedRun) => number | null;
  /** Tick labels with their positions (the extremes of a numeric axis, every category of a categorical). */
  ticks: { label: string; at: number }[];
  kind: 'numeric' | 'categorical';
}

function numericAxis(
  key: string,
  valueOf: (run: ITrackedRun) => number | null,
  runs: ITrackedRun[]
): IAxis {
  const values = runs.map(valueOf).filter((v): v is number => v !== null);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo;
  return {
    key,
    kind: 'numeric',
    position: run => {
      const v = valueOf(run);
      return v === null ? null : span ? (v - lo) / span : 0.5;
    },
    ticks: span
      ? [
          { label: formatNumber(lo), at: 0 },
          { label: formatNumber(hi), at: 1 }
        ]
      : [{ label: formatNumber(lo), at: 0.5 }]
  };
}

function categoricalAxis(
  key: string,
  valueOf: (run: ITrackedRun) => string | null,
  runs: ITrackedRun[]
): IAxis {
  const categories = [
    ...new Set(runs.map(valueOf).filter((v): v is string => v !== null))
  ].sort((a, b) => a.localeCompare(b));
  const at = (i: number): number =>
    categories.length > 1 ? i / (categories.length - 1) : 0.5;
  return {
    key,
    kind: 'categorical',
    position: run => {
      const v = valueOf(run);
      return v === null ? null : at(categories.indexOf(v));
    },
    ticks: categories.map((label, i) => ({ label, at: at(i) }))
  };
}

/** A parameter's axis: numeric when every value set reads as a finite number, else categorical. */
function parameterAxis(key: string, runs: ITrackedRun[]): IAxis {
  const raw = (run: ITrackedRun): string | null => run.params[key] ?? null;
  const set = runs.map(raw).filter((v): v is string => v !== null);
  const numeric =
    set.length > 0 &&
    set.every(v => v.trim() !== '' && Number.isFinite(Number(v)));
  if (numeric) {
    return numericAxis(
      key,
      run => {
        const v = raw(run);
        return v === null ? null : Number(v);
      },
      runs
    );
  }
  return categoricalAxis(key, raw, runs);
}

const HEIGHT = 220;
const TOP = 28;
const BOTTOM = 34;
const FONT_PX = 10;
/** Below the axis: where a run without a value on it passes. */
const MISSING = -0.12;

/**
 * The runs' parameters against a chosen metric: one vertical axis per parameter (numeric or categorical)
 * and the metric last, one polyline per run in its series colour. Each run's line is focusable and names
 * its values; a run without a value on an axis passes below it.
 */
export function ParallelCoordinates(props: {
  runs: ITrackedRun[];
  labels: string[];
  /** Parameter keys to draw, in order. */
  params: string[];
  /** Metrics the metric axis can show. */
  metrics: string[];
}): JSX.Element | null {
  const { runs, labels, params, metrics } = props;
  const [metric, setMetric] = React.useState(metrics[0] ?? '');
  const chosen = metrics.includes(metric) ? metric : (metrics[0] ?? '');
  const [focused, setFocused] = React.useState<number | null>(null);
  const frame = React.useRef<HTMLDivElement>(null);
  const [width, setWidth] = React.useState(640);
  React.useLayoutEffect(() => {
    const element = frame.current;
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
  }, []);
  if (params.length === 0 && !chosen) {
    return null;
  }
  const axes: IAxis[] = params
    .slice(0, MAX_PARAMETER_AXES)
    .map(key => parameterAxis(key, runs));
  if (chosen) {
    const metricValue = (run: ITrackedRun): number | null => {
      const v = run.metrics[chosen];
      return v === undefined || v === null || !Number.isFinite(v) ? null : v;
    };
    const metricAxis = runs.some(run => metricValue(run) !== null)
      ? numericAxis(`metrics.${chosen}`, metricValue, runs)
      : categoricalAxis(`metrics.${chosen}`, () => null, runs);
    axes.push(metricAxis);
  }
  const margin = 48;
  const gap = axes.length > 1 ? (width - 2 * margin) / (axes.length - 1) : 0;
  const xOf = (i: number): number =>
    axes.length > 1 ? margin + i * gap : width / 2;
  const inner = HEIGHT - TOP - BOTTOM;
  const yOf = (at: number): number => TOP + (1 - at) * inner;
  const describe = (run: ITrackedRun, i: number): string =>
    `${labels[i]}: ` +
    axes
      .map(axis => {
        const value = axis.key.startsWith('metrics.')
          ? run.metrics[chosen]
          : run.params[axis.key];
        return `${axis.key} ${
          value === undefined || value === null
            ? 'not set'
            : typeof value === 'number'
              ? formatNumber(value)
              : value
        }`;
      })
      .join(', ');
  return (
    <figure
      className="jp-nblift-chart jp-nblift-parallel"
      aria-label="parallel coordinates chart"
    >
      <figcaption>
        <span>Parameters against</span>{' '}
        <label className="jp-nblift-chart-control">
          <span className="jp-nblift-visually-hidden">metric axis</span>
          <select
            className="jp-mod-styled"
            aria-label="Metric axis"
            value={chosen}
            onChange={e => setMetric(e.currentTarget.value)}
            disabled={metrics.length === 0}
          >
            {metrics.length === 0 && <option value="">no metric</option>}
            {metrics.map(key => (
              <option key={key} value={key}>
                {key}
              </option>
            ))}
          </select>
        </label>
        {params.length > MAX_PARAMETER_AXES && (
          <span className="jp-nblift-muted">
            {' '}
            (first {MAX_PARAMETER_AXES} of {params.length} parameters)
          </span>
        )}
      </figcaption>
      <div ref={frame} className="jp-nblift-chart-frame">
        <svg
          width={width}
          height={HEIGHT}
          viewBox={`0 0 ${width} ${HEIGHT}`}
          role="group"
          aria-label={`${runs.length} runs across ${axes.length} axes`}
        >
          {runs.map((run, i) => {
            const points = axes.map((axis, a) => {
              const at = axis.position(run);
              return `${xOf(a).toFixed(1)},${yOf(at ?? MISSING).toFixed(1)}`;
            });
            const text = describe(run, i);
            return (
              <polyline
                key={run.run_id}
                className={
                  seriesClass(i) +
                  ' jp-nblift-parallel-line' +
                  (focused !== null && focused !== i
                    ? ' jp-nblift-parallel-dim'
                    : '')
                }
                points={points.join(' ')}
                data-run={run.run_id}
                tabIndex={0}
                role="img"
                aria-label={text}
                onFocus={() => setFocused(i)}
                onBlur={() => setFocused(null)}
                onMouseEnter={() => setFocused(i)}
                onMouseLeave={() => setFocused(null)}
              >
                <title>{text}</title>
              </polyline>
            );
          })}
          {axes.map((axis, a) => {
            const x = xOf(a);
            const anchor =
              a === 0 ? 'start' : a === axes.length - 1 ? 'end' : 'middle';
            return (
              <g
                key={axis.key}
                className="jp-nblift-axis jp-nblift-parallel-axis"
                data-axis={axis.key}
                data-kind={axis.kind}
              >
                <line x1={x} y1={TOP} x2={x} y2={TOP + inner} />
                <text
                  x={a === 0 ? x - 4 : a === axes.length - 1 ? x + 4 : x}
                  y={TOP - 12}
                  textAnchor={anchor}
                  className="jp-nblift-axis-title"
                >
                  {axis.key}
                </text>
                {axis.ticks.map(tick => (
                  <text
                    key={tick.label}
                    className="jp-nblift-parallel-tick"
                    x={x + 4}
                    y={yOf(tick.at) + FONT_PX * 0.35}
                    textAnchor="start"
                  >
                    {tick.label}
                  </text>
                ))}
              </g>
            );
          })}
        </svg>
      </div>
    </figure>
  );
}
