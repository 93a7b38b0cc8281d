import * as React from 'react';

import { IComparison, MetricPoint } from '../api';
import { BarChart, ISeries, LineChart, SeriesSwatch, XY } from './charts';
import { DetailHeading, useScrollIntoView } from './common';
import { ExperimentsModel, runName } from './ExperimentsModel';

/** Each run's label: its name, with the start of its id where two runs share a name. */
function runLabels(comparison: IComparison): string[] {
  const names = comparison.runs.map(runName);
  return names.map((name, i) =>
    names.indexOf(name) !== names.lastIndexOf(name)
      ? `${name} (${comparison.runs[i].run_id.slice(0, 6)})`
      : name
  );
}

/**
 * A metric's curves, by step; by seconds since each run's first value when every value was logged at the
 * same step (metrics logged without one).
 */
function curves(
  byRun: Record<string, MetricPoint[]>,
  comparison: IComparison,
  labels: string[]
): { xLabel: string; series: ISeries[] } {
  const present = comparison.runs
    .map((run, index) => ({ index, points: byRun[run.run_id] ?? [] }))
    .filter(s => s.points.length > 0);
  const steps = new Set(present.flatMap(s => s.points.map(p => p[0])));
  const byTime = steps.size === 1 && present.some(s => s.points.length > 1);
  return {
    xLabel: byTime ? 'seconds' : 'step',
    series: present.map(s => {
      const t0 = s.points[0][2];
      return {
        name: labels[s.index],
        index: s.index,
        points: s.points.map(([step, value, t]): XY => [
          byTime ? (t - t0) / 1000 : step,
          value
        ])
      };
    })
  };
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
 * bars), and their parameters.
 */
export function CompareView(props: {
  model: ExperimentsModel;
}): JSX.Element | null {
  const { model } = props;
  const section = useScrollIntoView<HTMLElement>(model.compared);
  const comparison = model.comparison;
  if (!comparison) {
    return null;
  }
  const labels = runLabels(comparison);
  const metrics = Object.entries(comparison.metrics).sort(([a], [b]) =>
    a.localeCompare(b)
  );
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
        <div className="jp-nblift-chart-grid">
          {metrics.map(([key, byRun]) => {
            const { xLabel, series } = curves(byRun, comparison, labels);
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
                xLabel={xLabel}
                series={series}
              />
            );
          })}
        </div>
      )}
      <ParameterTable comparison={comparison} labels={labels} />
    </section>
  );
}
