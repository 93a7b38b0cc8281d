import * as React from 'react';

import { IRun, IRunTracking } from '../api';
import { ICellRow, RunTrace } from '../runTrace';
import { Sparkline } from './charts';
import { CopyableId, MlflowRunLink, StateBadge } from './common';
import {
  formatDuration,
  formatNumber,
  formatTime,
  formatTimeout
} from './format';
import { RunsModel } from './RunsModel';

/** Seconds the run has taken (so far, while it is in flight); null before it starts. */
export function runSeconds(run: IRun): number | null {
  if (run.started === null) {
    return null;
  }
  if (run.finished !== null) {
    return run.duration ?? run.finished - run.started;
  }
  return Math.max(0, Date.now() / 1000 - run.started);
}

/** The URL of an MLflow run in its server's UI, for tracking URIs that are web servers. */
export function mlflowRunUrl(tracking: IRunTracking): string | null {
  if (!/^https?:\/\//i.test(tracking.tracking_uri)) {
    return null;
  }
  const base = tracking.tracking_uri.replace(/\/+$/, '');
  return `${base}/#/experiments/${encodeURIComponent(tracking.experiment_id)}/runs/${encodeURIComponent(tracking.run_id)}`;
}

function cellName(row: ICellRow): string {
  return row.cell === null ? 'injected' : `cell ${row.cell}`;
}

/** A row's status in words, and the mark that shows it. */
function statusOf(row: ICellRow, ended: boolean): [string, string] {
  if (ended && row.status === 'pending') {
    return ['not run', '–'];
  }
  if (ended && row.status === 'running') {
    return ['stopped', '■'];
  }
  const marks = {
    pending: '○',
    running: '●',
    done: '✓',
    error: '✗',
    stopped: '■'
  };
  return [row.status, marks[row.status]];
}

function CellProgress(props: { trace: RunTrace }): JSX.Element {
  const { trace } = props;
  const done = trace.finishedCells;
  const total = trace.total === null ? null : Math.max(trace.total, done);
  const ended = !trace.inFlight;
  return (
    <>
      <div className="jp-nblift-cell-progress">
        <div
          className="jp-nblift-bar"
          role="progressbar"
          aria-label="cells run"
          aria-valuemin={0}
          aria-valuemax={total ?? undefined}
          aria-valuenow={done}
        >
          <div
            style={{
              width: total ? `${(100 * done) / total}%` : done ? '100%' : '0%'
            }}
          />
        </div>
        <span data-testid="nblift-run-cells">
          {total !== null ? `${done} of ${total} cells` : `${done} cells run`}
        </span>
      </div>
      {trace.cells.length > 0 ? (
        <ol className="jp-nblift-cells" aria-label="cell progress">
          {trace.cells.map(row => {
            const [word, mark] = statusOf(row, ended);
            return (
              <li
                key={row.key}
                className={`jp-nblift-cell jp-nblift-cell-${row.status}`}
                data-status={row.status}
                title={`${cellName(row)} ${word}: ${row.label}`}
              >
                <span className="jp-nblift-cell-status" aria-hidden="true">
                  {mark}
                </span>
                <span className="jp-nblift-cell-name">
                  {cellName(row)}
                  <span className="jp-nblift-visually-hidden">, {word}</span>
                </span>
                <code className="jp-nblift-cell-label">{row.label}</code>
                <span className="jp-nblift-cell-time">
                  {row.duration !== null ? formatDuration(row.duration) : ''}
                </span>
              </li>
            );
          })}
        </ol>
      ) : null}
    </>
  );
}

function RunLog(props: { trace: RunTrace }): JSX.Element | null {
  const { trace } = props;
  const box = React.useRef<HTMLDivElement>(null);
  const stick = React.useRef(true);
  const last = trace.logs.length ? trace.logs[trace.logs.length - 1].id : -1;
  React.useLayoutEffect(() => {
    if (box.current && stick.current) {
      box.current.scrollTop = box.current.scrollHeight;
    }
  }, [last]);
  if (trace.logs.length === 0) {
    return null;
  }
  return (
    <>
      <h4 className="jp-nblift-subtitle">Output</h4>
      <div
        ref={box}
        className="jp-nblift-log"
        role="log"
        aria-label="run output"
        onScroll={e => {
          const el = e.currentTarget;
          stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
        }}
      >
        {trace.dropped > 0 ? (
          <div className="jp-nblift-muted">
            … {trace.dropped} earlier outputs are in the executed notebook
          </div>
        ) : null}
        {trace.logs.map(entry => (
          <pre
            key={entry.id}
            className={`jp-nblift-log-${entry.stream}`}
            title={entry.cell !== null ? `cell ${entry.cell}` : undefined}
          >
            {entry.text}
          </pre>
        ))}
      </div>
    </>
  );
}

function Metrics(props: { trace: RunTrace }): JSX.Element | null {
  const series = [...props.trace.metrics.values()];
  if (series.length === 0) {
    return null;
  }
  return (
    <>
      <h4 className="jp-nblift-subtitle">Metrics</h4>
      <table className="jp-nblift-table jp-nblift-metrics" aria-label="metrics">
        <tbody>
          {series.map(s => (
            <tr key={s.name} data-testid={`nblift-metric-${s.name}`}>
              <th scope="row">{s.name}</th>
              <td title={s.step !== null ? `step ${s.step}` : undefined}>
                {formatNumber(s.values[s.values.length - 1])}
              </td>
              <td>
                <Sparkline values={s.values} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function RunFailure(props: { trace: RunTrace }): JSX.Element | null {
  const { run } = props.trace;
  if (run.state === 'SUCCEEDED') {
    return null;
  }
  if (run.state === 'CANCELLED') {
    return <p className="jp-nblift-muted">Cancelled.</p>;
  }
  const error = run.error ?? props.trace.cellError;
  if (!error) {
    return null;
  }
  const where =
    error.ename === undefined
      ? null
      : error.cell
        ? `cell ${error.cell}${error.label ? ` (${error.label})` : ''}`
        : 'the injected parameters cell';
  return (
    <div className="jp-nblift-error" aria-label="run error">
      {where ? (
        <>
          <div className="jp-nblift-muted">{where}</div>
          <div>
            <strong>{error.ename}</strong>: {error.evalue}
          </div>
        </>
      ) : (
        <div>{error.message}</div>
      )}
      {error.traceback ? (
        <details>
          <summary>Traceback</summary>
          <pre className="jp-nblift-traceback">{error.traceback}</pre>
        </details>
      ) : null}
    </div>
  );
}

function RunFacts(props: { trace: RunTrace }): JSX.Element {
  const { trace } = props;
  const { run } = trace;
  const seconds = runSeconds(run);
  const parameters = Object.entries(run.parameter_text ?? {});
  const tracking = run.mlflow;
  return (
    <table className="jp-nblift-table jp-nblift-facts" aria-label="run">
      <tbody>
        <tr>
          <th scope="row">Notebook</th>
          <td>{run.notebook}</td>
        </tr>
        <tr>
          <th scope="row">Backend</th>
          <td>{run.backend}</td>
        </tr>
        <tr>
          <th scope="row">Parameters</th>
          <td>
            {parameters.length
              ? parameters.map(([k, text]) => `${k}=${text}`).join(', ')
              : 'notebook defaults'}
          </td>
        </tr>
        <tr>
          <th scope="row">Started</th>
          <td>
            {run.started !== null ? formatTime(run.started) : 'not yet'}
            {run.timeout ? ` (timeout ${formatTimeout(run.timeout)})` : ''}
          </td>
        </tr>
        {seconds !== null ? (
          <tr>
            <th scope="row">Duration</th>
            <td data-testid="nblift-run-duration">{formatDuration(seconds)}</td>
          </tr>
        ) : null}
        {run.cost ? (
          <tr>
            <th scope="row">Cost</th>
            <td data-testid="nblift-run-cost">
              {run.cost.text}
              {run.cost.warning ? (
                <div className="jp-nblift-warning" role="alert">
                  {run.cost.warning}
                </div>
              ) : null}
            </td>
          </tr>
        ) : null}
        {tracking ? (
          <>
            <tr>
              <th scope="row">MLflow run</th>
              <td>
                <CopyableId text={tracking.run_id} what="MLflow run id" />
              </td>
            </tr>
            <tr>
              <th scope="row">Experiment</th>
              <td>
                <CopyableId
                  text={tracking.experiment_id}
                  what="MLflow experiment id"
                />
              </td>
            </tr>
            <tr>
              <th scope="row">Tracking</th>
              <td className="jp-nblift-muted">{tracking.tracking_uri}</td>
            </tr>
          </>
        ) : null}
        {!tracking && trace.trackingError ? (
          <tr>
            <th scope="row">MLflow</th>
            <td className="jp-nblift-muted">{trace.trackingError}</td>
          </tr>
        ) : null}
        {trace.artifacts.length ? (
          <tr>
            <th scope="row">Artifacts</th>
            <td>{trace.artifacts.join(', ')}</td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}

function Waiting(props: { trace: RunTrace }): JSX.Element | null {
  const { trace } = props;
  if (!trace.inFlight || trace.cells.some(c => c.status !== 'pending')) {
    return null;
  }
  const what =
    trace.run.state === 'PENDING'
      ? `Waiting for the ${trace.run.backend} backend`
      : trace.kernel
        ? `Starting a fresh ${trace.kernel} kernel`
        : 'Preparing the run';
  return (
    <div className="jp-nblift-busy">
      <div className="jp-nblift-progress" />
      {what}…
    </div>
  );
}

function RunActions(props: { model: RunsModel; trace: RunTrace }): JSX.Element {
  const { model, trace } = props;
  const busy = model.busy !== null;
  const link = trace.run.mlflow ? mlflowRunUrl(trace.run.mlflow) : null;
  return (
    <div className="jp-nblift-actions">
      {trace.inFlight ? (
        <button
          className="jp-mod-styled jp-mod-warn"
          disabled={busy}
          onClick={() => void model.cancel()}
        >
          Cancel
        </button>
      ) : null}
      <button
        className="jp-mod-styled jp-mod-accept"
        disabled={busy || trace.run.executed === null}
        title={
          trace.run.executed === null
            ? 'The executed notebook comes back when the run ends'
            : undefined
        }
        onClick={() => void model.openExecuted()}
      >
        Open executed notebook
      </button>
      {link ? <MlflowRunLink href={link} /> : null}
      <button
        className="jp-mod-styled"
        disabled={busy}
        onClick={() => void model.rerun()}
      >
        Re-run with other parameters
      </button>
    </div>
  );
}

/** The selected run: facts, progress per cell, output, metrics, failure and what to do next. */
export function RunDetail(props: {
  model: RunsModel;
  trace: RunTrace;
}): JSX.Element {
  const { model, trace } = props;
  return (
    <section
      className="jp-nblift-run-detail"
      aria-label={`run ${trace.run.id}`}
    >
      <h4 className="jp-nblift-subtitle">
        Run <code>{trace.run.id}</code> <StateBadge state={trace.run.state} />
      </h4>
      <RunFacts trace={trace} />
      <RunActions model={model} trace={trace} />
      <RunFailure trace={trace} />
      <Waiting trace={trace} />
      <CellProgress trace={trace} />
      <Metrics trace={trace} />
      <RunLog trace={trace} />
    </section>
  );
}
