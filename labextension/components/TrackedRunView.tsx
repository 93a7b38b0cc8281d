import * as React from 'react';

import { ITrackedRunDetail } from '../api';
import {
  CopyableId,
  DetailHeading,
  IdRow,
  Message,
  MlflowRunLink,
  Pairs,
  StateBadge,
  useScrollIntoView
} from './common';
import { ExperimentsModel, runName } from './ExperimentsModel';
import { formatBytes, formatDuration, formatTime } from './format';
import { mlflowRunUrl } from './RunDetail';

function durationOf(detail: ITrackedRunDetail): string | null {
  const { start_time: start, end_time: end } = detail.run;
  if (start === null) {
    return null;
  }
  const seconds = Math.max(0, ((end ?? Date.now()) - start) / 1000);
  return formatDuration(seconds) + (end === null ? ' so far' : '');
}

function Lineage(props: { model: ExperimentsModel }): JSX.Element {
  const { model } = props;
  const detail = model.detail as ITrackedRunDetail;
  const { lineage } = detail;
  const busy = model.busy !== null;
  return (
    <>
      {lineage.notebook ? (
        <tr>
          <th scope="row">Notebook</th>
          <td data-testid="nblift-lineage-notebook">
            {model.notebook ? (
              <button
                className="jp-nblift-run-link"
                title={`Open ${model.notebook}`}
                onClick={() => void model.openNotebook()}
              >
                {lineage.notebook}
              </button>
            ) : (
              <>
                {lineage.notebook}{' '}
                <span className="jp-nblift-muted">
                  (not found under the server&apos;s root folder)
                </span>
              </>
            )}
          </td>
        </tr>
      ) : null}
      {lineage.git_commit ? (
        <IdRow label="Git commit" id={lineage.git_commit} what="git commit" />
      ) : null}
      {lineage.snapshot ? (
        <IdRow label="Snapshot" id={lineage.snapshot} what="snapshot id">
          <button
            className="jp-mod-styled jp-nblift-wide-button"
            disabled={busy || !model.canRestore}
            title={
              model.canRestore
                ? `%lift restore ${lineage.snapshot} in the current notebook's kernel`
                : 'open a notebook first'
            }
            onClick={() => void model.restore()}
          >
            Restore into this notebook&apos;s kernel
          </button>
        </IdRow>
      ) : null}
      {lineage.nblift_run ? (
        <IdRow
          label="nblift run"
          id={lineage.nblift_run}
          what="nblift run id"
        />
      ) : null}
      {lineage.lock ? (
        <IdRow label="Lock" id={lineage.lock} what="environment lock id" />
      ) : null}
    </>
  );
}

function Artifacts(props: { detail: ITrackedRunDetail }): JSX.Element {
  const { artifacts } = props.detail.run;
  if (artifacts.length === 0) {
    return (
      <p className="jp-nblift-muted">
        No artifacts: files logged with <code>mlflow.log_artifact</code> in the
        run show here.
      </p>
    );
  }
  return (
    <ul className="jp-nblift-artifacts" aria-label="artifacts">
      {artifacts.map(a => (
        <li key={a.path} title={a.path}>
          <code>{a.is_dir ? `${a.path}/` : a.path}</code>
          {!a.is_dir && a.size !== null ? (
            <span className="jp-nblift-muted">{formatBytes(a.size)}</span>
          ) : null}
        </li>
      ))}
    </ul>
  );
}

/** The opened MLflow run: what it is, where it came from, its parameters, metrics, tags and artifacts. */
export function TrackedRunView(props: {
  model: ExperimentsModel;
}): JSX.Element | null {
  const { model } = props;
  const section = useScrollIntoView<HTMLElement>(model.opened);
  const detail = model.detail;
  if (!detail) {
    return null;
  }
  const { run } = detail;
  const name = runName(run);
  const duration = durationOf(detail);
  const link = model.trackingUri
    ? mlflowRunUrl({
        tracking_uri: model.trackingUri,
        experiment_id: run.experiment_id,
        run_id: run.run_id
      })
    : null;
  return (
    <section
      ref={section}
      className="jp-nblift-run-detail"
      aria-label={`tracked run ${name}`}
    >
      <DetailHeading what="run" onClose={() => void model.open(null)}>
        Run <code>{name}</code> <StateBadge state={run.status} />
      </DetailHeading>
      <table className="jp-nblift-table jp-nblift-facts" aria-label="run facts">
        <tbody>
          <tr>
            <th scope="row">MLflow run</th>
            <td>
              <CopyableId text={run.run_id} what="MLflow run id" />
            </td>
          </tr>
          {run.start_time !== null ? (
            <tr>
              <th scope="row">Started</th>
              <td>{formatTime(run.start_time / 1000)}</td>
            </tr>
          ) : null}
          {duration ? (
            <tr>
              <th scope="row">Duration</th>
              <td>{duration}</td>
            </tr>
          ) : null}
          <Lineage model={model} />
        </tbody>
      </table>
      <Message text={model.message} testId="nblift-restore-message" />
      {link ? (
        <div className="jp-nblift-actions">
          <MlflowRunLink href={link} />
        </div>
      ) : null}
      <h5 className="jp-nblift-subtitle">Parameters</h5>
      <Pairs
        label="parameters"
        values={run.params}
        empty="No parameters: nblift.track(params=...) records them."
      />
      <h5 className="jp-nblift-subtitle">Metrics (latest)</h5>
      <Pairs
        label="latest metrics"
        values={run.metrics}
        empty="No metrics: nblift.log(name=value) in the run records them."
      />
      <details className="jp-nblift-tags">
        <summary>Tags ({Object.keys(run.tags).length})</summary>
        <Pairs label="tags" values={run.tags} empty="No tags." />
      </details>
      <h5 className="jp-nblift-subtitle">Artifacts</h5>
      <Artifacts detail={detail} />
    </section>
  );
}
