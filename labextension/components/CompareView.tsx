import * as React from 'react';

import { IComparison, MetricPoint } from '../api';
import { BarChart, ISeries, LineChart, SeriesSwatch, XY } from './charts';
import { DetailHeading, useScrollIntoView } from './common';
import { ExperimentsModel, runName } from './ExperimentsModel';
import { ParallelCoordinates } from './ParallelCoordinates';

/** Each run's label: its name, with the start of its id where two runs share a name. */
function runLabels(comparison: IComparison): string[] {
  const names = comparison.runs.map(runName);
  return names.map((name, i) =>
    names.indexOf(name) !== names.lastIndexOf(name)
      ? `${name} (${comparison.runs[i].run_id.slice(0, 6)})`
      : name
  );
}

/** What a curve's x counts: the step, seconds since the run's first value, or the wall clock. */
export type XAxis = 'step' | 'relative' | 'wall';

const X_LABELS: Record<XAxis, string> = {
  step: 'step',
  relative: 'seconds',
  wall: 'time'
};

/**
 * Whether a metric's points all sit at one step (metrics logged without one): then time is the only
 * useful x.
 */
function oneStep(byRun: Record<string, MetricPoint[]>): boolean {
  const points = Object.values(byRun);
  const steps = new Set(points.flatMap(p => p.map(point => point[0])));
  return steps.size === 1 && points.some(p => p.length > 1);
}

/** A metric's curves with x as `axis` (time where every value was logged at the same step). */
function curves(
  byRun: Record<string, MetricPoint[]>,
  comparison: IComparison,
  labels: string[],
  axis: XAxis
): { xAxis: XAxis; series: ISeries[] } {
  const present = comparison.runs
    .map((run, index) => ({ index, points: byRun[run.run_id] ?? [] }))
    .filter(s => s.points.length > 0);
  const xAxis = axis === 'step' && oneStep(byRun) ? 'relative' : axis;
  return {
    xAxis,
    series: present.map(s => {
      const t0 = s.points[0][2];
      return {
        name: labels[s.index],
        index: s.index,
        points: s.points.map(([step, value, t]): XY => [
          xAxis === 'step' ? step : xAxis === 'relative' ? (t - t0) / 1000 : t,
          value
        ])
      };
    })
  };
}

function formatClock(ms: number): string {
  return new Date(ms).toLocaleTimeString();
}

/** The controls every curve of the comparison follows. */
function ChartControls(props: {
  axis: XAxis;
  onAxis: (axis: XAxis) => void;
  smoothing: number;
  onSmoothing: (weight: number) => void;
  logY: boolean;
  onLogY: (log: boolean) => void;
}): JSX.Element {
  return (
    <div
      className="jp-nblift-chart-controls"
      role="group"
      aria-label="chart controls"
    >
      <label className="jp-nblift-chart-control">
        X axis
        <select
          className="jp-mod-styled"
          value={props.axis}
          onChange={e => props.onAxis(e.currentTarget.value as XAxis)}
        >
          <option value="step">Step</option>
          <option value="relative">Relative time</option>
          <option value="wall">Wall time</option>
        </select>
      </label>
      <label className="jp-nblift-chart-control">
        Smoothing
        <input
          type="range"
          min={0}
          max={0.99}
          step={0.01}
          value={props.smoothing}
          onChange={e => props.onSmoothing(Number(e.currentTarget.value))}
        />
        <output className="jp-nblift-smoothing-value">
          {props.smoothing.toFixed(2)}
        </output>
      </label>
      <label className="jp-nblift-check jp-nblift-chart-control">
        <input
          type="checkbox"
          checked={props.logY}
          onChange={e => props.onLogY(e.currentTarget.checked)}
        />
        Log scale (y)
      </label>
    </div>
  );
}

function ParameterTable(props: {
  comparison: IComparison;
  labels: string[];
}): JSX.Element {
  const { comparison, labels } = props;
  const [onlyDiffering, setOnlyDiffering] = React.useState(false);
  const rows = onlyDiffering
    ? comparison.params.filter(p => p.differs)
    : comparison.params;
  const differing = comparison.params.filter(p => p.differs).length;
  return (
    <>
      <h5 className="jp-nblift-subtitle">
        Parameters <span className="jp-nblift-muted">({differing} differ)</span>
      </h5>
      {comparison.params.length === 0 ? (
        <p className="jp-nblift-muted">These runs have no parameters.</p>
      ) : (
        <>
          <label className="jp-nblift-check">
            <input
              type="checkbox"
              checked={onlyDiffering}
              onChange={e => setOnlyDiffering(e.currentTarget.checked)}
            />
            Only parameters that differ
          </label>
          <div className="jp-nblift-table-scroll">
            <table
              className="jp-nblift-runs-table jp-nblift-compare-params"
              aria-label="compared parameters"
            >
              <thead>
                <tr>
                  <th scope="col">Parameter</th>
                  {comparison.runs.map((run, i) => (
                    <th key={run.run_id} scope="col" title={run.run_id}>
                      <SeriesSwatch index={i} />
                      {labels[i]}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map(param => (
                  <tr
                    key={param.key}
                    className={param.differs ? 'jp-nblift-differs' : undefined}
                    data-differs={param.differs}
                  >
                    <th scope="row" title={param.key}>
                      {param.key}
                    </th>
                    {comparison.runs.map(run => {
                      const value = param.values[run.run_id] ?? null;
                      return (
                        <td key={run.run_id} title={value ?? 'not set'}>
                          {value ?? '–'}
                        </td>
                      );
                    })}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </>
  );
}

/**
 * Selected runs side by side: every metric's curves on one plot each (a metric logged once per run as
 * bars) with x by step or time, smoothing and a log scale; their parameters against a chosen metric as
 * parallel coordinates; and the parameter diff.
 */
export function CompareView(props: {
  model: ExperimentsModel;
}): JSX.Element | null {
  const { model } = props;
  const section = useScrollIntoView<HTMLElement>(model.compared);
  const comparison = model.comparison;
  const [axis, setAxis] = React.useState<XAxis>('step');
  const [smoothing, setSmoothing] = React.useState(0);
  const [logY, setLogY] = React.useState(false);
  if (!comparison) {
    return null;
  }
  const labels = runLabels(comparison);
  const metrics = Object.entries(comparison.metrics).sort(([a], [b]) =>
    a.localeCompare(b)
  );
  // Parameters that differ first: they are what the parallel coordinates are for.
  const parallelParams = [
    ...comparison.params.filter(p => p.differs),
    ...comparison.params.filter(p => !p.differs)
  ].map(p => p.key);
  return (
    <section
      ref={section}
      className="jp-nblift-compare"
      aria-label="run comparison"
    >
      <DetailHeading what="comparison" onClose={() => model.closeComparison()}>
        Comparing {comparison.runs.length} runs
      </DetailHeading>
      {metrics.length === 0 ? (
        <p className="jp-nblift-muted">These runs logged no metrics.</p>
      ) : (
        <>
          <ChartControls
            axis={axis}
            onAxis={setAxis}
            smoothing={smoothing}
            onSmoothing={setSmoothing}
            logY={logY}
            onLogY={setLogY}
          />
          <div className="jp-nblift-chart-grid">
            {metrics.map(([key, byRun]) => {
              const { xAxis, series } = curves(byRun, comparison, labels, axis);
              if (series.every(s => s.points.length === 1)) {
                // Logged once per run: a value to compare, drawn as bars.
                const bars = series.map(s => ({
                  name: s.name,
                  index: s.index,
                  value: s.points[0][1]
                }));
                return <BarChart key={key} label={key} bars={bars} />;
              }
              return (
                <LineChart
                  key={key}
                  label={key}
                  xLabel={X_LABELS[xAxis]}
                  series={series}
                  smoothing={smoothing}
                  logY={logY}
                  formatX={xAxis === 'wall' ? formatClock : undefined}
                />
              );
            })}
          </div>
        </>
      )}
      <h5 className="jp-nblift-subtitle">Parallel coordinates</h5>
      <ParallelCoordinates
        runs={comparison.runs}
        labels={labels}
        params={parallelParams}
        metrics={metrics.map(([key]) => key)}
      />
      <ParameterTable comparison={comparison} labels={labels} />
    </section>
  );
}
