import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import {
  checkServer,
  IFsckReport,
  IServerCheck,
  IStatus,
  requestAPI
} from '../api';
import { StateBadge } from './common';
import { baseName, formatBytes, formatDuration, formatTime } from './format';
import { ProjectModel, useModel } from './model';
import { WorkState } from './WorkState';
import { SnapshotsModel, SnapshotsView } from './SnapshotsView';
import { EnvironmentsModel, EnvironmentsView } from './EnvironmentsView';
import { RunsModel } from './RunsModel';
import { runSeconds } from './RunDetail';
import { VIEW_KINDS, VIEW_TITLES, ViewKind } from '../workbench';

function fsckSummary(report: IFsckReport | null): string {
  if (report === null) {
    return 'never checked';
  }
  const when = new Date(report.finished_at * 1000).toLocaleString();
  if (report.ok) {
    return `ok: ${report.checked} objects verified (${when})`;
  }
  const problems: string[] = [];
  if (report.corrupt.length) {
    problems.push(`${report.corrupt.length} corrupt`);
  }
  if (report.missing.length) {
    problems.push(`${report.missing.length} missing`);
  }
  if (report.unreadable_refs.length) {
    problems.push(`${report.unreadable_refs.length} unreadable refs`);
  }
  return `problems: ${problems.join(', ')} (${when})`;
}

interface IRow {
  label: string;
  value: string;
  testId: string;
}

function statusRows(status: IStatus): IRow[] {
  return [
    { label: 'Project', value: status.project.root, testId: 'project' },
    {
      label: 'Tracking',
      value:
        status.tracking.uri + (status.tracking.embedded ? ' (embedded)' : ''),
      testId: 'tracking'
    },
    {
      label: 'Store',
      value: `${status.store.objects} objects, ${formatBytes(status.store.bytes)}`,
      testId: 'store'
    },
    { label: 'Integrity', value: fsckSummary(status.fsck), testId: 'fsck' },
    ...(status.kernel
      ? [{ label: 'Kernel', value: status.kernel.text, testId: 'kernel' }]
      : [])
  ];
}

/** Model of the status panel: what it shows and where the state comes from. */
export class StatusModel extends ProjectModel {
  get status(): IStatus | null {
    return this._status;
  }
  get server(): IServerCheck | null {
    return this._server;
  }

  /** How to find the current notebook's kernel id (the status then says where it runs). */
  set kernelId(getter: (() => string | null) | null) {
    this._kernelId = getter;
  }

  protected query(): Record<string, string> {
    const kernel = this._kernelId?.() ?? null;
    return kernel ? { ...super.query(), kernel } : super.query();
  }

  async refresh(): Promise<void> {
    if (this._server === null || !this._server.ok) {
      this._server = await checkServer();
      if (!this._server.ok) {
        this.emit();
        return;
      }
    }
    await this.work('Loading', async () => {
      this._status = await requestAPI<IStatus>('status', {}, this.query());
    });
  }

  async verify(): Promise<void> {
    await this.work('Verifying every stored object', async () => {
      await requestAPI<IFsckReport>(
        'store/fsck',
        { method: 'POST' },
        this.query()
      );
      this._status = await requestAPI<IStatus>('status', {}, this.query());
    });
  }

  private _status: IStatus | null = null;
  private _server: IServerCheck | null = null;
  private _kernelId: (() => string | null) | null = null;
}

/** A section of the sidebar that folds away (its state kept while the panel lives). */
function Section(props: {
  title: string;
  children: React.ReactNode;
  open?: boolean;
  extra?: React.ReactNode;
}): JSX.Element {
  return (
    <details
      className="jp-nblift-nav-section"
      open={props.open ?? true}
      aria-label={`${props.title} section`}
    >
      <summary>
        <span className="jp-nblift-nav-title">{props.title}</span>
        {props.extra}
      </summary>
      {props.children}
    </details>
  );
}

/** Runs listed in the sidebar; the Runs view in the main area lists every one. */
const RECENT_RUNS = 5;

/** The last few runs: each opens in the Runs view. */
function RecentRuns(props: {
  runs: RunsModel;
  open: (kind: ViewKind) => void;
}): JSX.Element {
  const { runs, open } = props;
  useModel(runs);
  const recent = runs.runs.slice(0, RECENT_RUNS);
  if (recent.length === 0) {
    return (
      <p className="jp-nblift-muted">
        No runs yet: press Run on… in a notebook&apos;s toolbar, or{' '}
        <code>%lift run NOTEBOOK</code> in a cell.
      </p>
    );
  }
  return (
    <ul className="jp-nblift-recent" aria-label="recent runs">
      {recent.map(run => {
        const seconds = runSeconds(run);
        return (
          <li key={run.id} data-testid={`nblift-recent-${run.id}`}>
            <button
              className="jp-nblift-run-row"
              title={`Open run ${run.id} (${run.notebook}) in the Runs view`}
              onClick={() => {
                runs.select(run.id);
                open('runs');
              }}
            >
              <span className="jp-nblift-run-head">
                <StateBadge state={run.state} />
                <span className="jp-nblift-run-name">
                  {baseName(run.notebook)}
                </span>
              </span>
              <span className="jp-nblift-muted">
                {[
                  run.backend,
                  seconds !== null ? formatDuration(seconds) : null,
                  formatTime(run.started ?? run.created)
                ]
                  .filter(Boolean)
                  .join(' · ')}
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/** Links into the main-area views. */
function ViewLinks(props: { open: (kind: ViewKind) => void }): JSX.Element {
  return (
    <nav className="jp-nblift-view-links" aria-label="nblift views">
      {VIEW_KINDS.map(kind => (
        <button
          key={kind}
          className="jp-nblift-view-link"
          title={VIEW_TITLES[kind].caption}
          onClick={() => props.open(kind)}
        >
          {VIEW_TITLES[kind].label}
        </button>
      ))}
    </nav>
  );
}

function StatusView(props: {
  model: StatusModel;
  snapshots: SnapshotsModel;
  environments: EnvironmentsModel;
  runs: RunsModel;
  open: (kind: ViewKind) => void;
}): JSX.Element {
  const { model, snapshots, environments, runs, open } = props;
  useModel(model);

  const server = model.server;
  if (server !== null && !server.ok) {
    return (
      <div className="jp-nblift-panel">
        <h2 className="jp-nblift-title">nblift</h2>
        <div className="jp-nblift-error" role="alert">
          {server.message}
        </div>
        <button
          className="jp-mod-styled jp-mod-accept"
          onClick={() => void model.refresh()}
        >
          Retry
        </button>
      </div>
    );
  }
  const status = model.status;
  return (
    <div className="jp-nblift-panel">
      <h2 className="jp-nblift-title">
        nblift {status ? <span>{status.version}</span> : null}
      </h2>
      <ViewLinks open={open} />
      <WorkState model={model} />
      {status ? (
        <>
          <Section title="Status">
            <table className="jp-nblift-table" aria-label="nblift status">
              <tbody>
                {statusRows(status).map(row => (
                  <tr key={row.testId}>
                    <th scope="row">{row.label}</th>
                    <td data-testid={`nblift-${row.testId}`}>{row.value}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <h3 className="jp-nblift-subtitle">Backends</h3>
            {status.backends.length === 0 ? (
              <p className="jp-nblift-muted">
                No run backend is installed yet: install nblift with the extra
                of the backend you want (see the docs on running).
              </p>
            ) : (
              <ul className="jp-nblift-backends" aria-label="nblift backends">
                {status.backends.map(backend => (
                  <li
                    key={backend.name}
                    data-testid={`nblift-backend-${backend.name}`}
                  >
                    <strong>{backend.name}</strong>{' '}
                    {backend.summary ??
                      (backend.available
                        ? 'available'
                        : `needs ${backend.missing.join(', ')}: ${backend.install_hint ?? ''}`)}
                  </li>
                ))}
              </ul>
            )}
            <div className="jp-nblift-actions">
              <button
                className="jp-mod-styled jp-mod-accept"
                disabled={model.busy !== null}
                onClick={() => void model.verify()}
              >
                Verify store
              </button>
            </div>
          </Section>
          <Section title="Snapshots">
            <SnapshotsView model={snapshots} />
          </Section>
          <Section title="Environment">
            <EnvironmentsView
              model={environments}
              snapshotIds={snapshots.snapshots.map(s => s.id)}
            />
          </Section>
          <Section title="Recent runs">
            <RecentRuns runs={runs} open={open} />
          </Section>
        </>
      ) : null}
    </div>
  );
}

/** The nblift left-sidebar panel: a compact navigator into the main-area views. */
export class StatusPanel extends ReactWidget {
  constructor(
    readonly model: StatusModel,
    readonly snapshots: SnapshotsModel,
    readonly environments: EnvironmentsModel,
    readonly runs: RunsModel,
    private readonly _open: (kind: ViewKind) => void
  ) {
    super();
    this.addClass('jp-nblift-sidebar');
  }

  /** Read the status again whenever the user opens the panel (the rest follows the kernel). */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this.model.busy === null) {
      void this.model.refresh();
    }
    if (this.snapshots.busy === null) {
      void this.snapshots.refresh();
    }
    if (this.runs.busy === null) {
      void this.runs.refresh();
    }
  }

  protected render(): JSX.Element {
    return (
      <StatusView
        model={this.model}
        snapshots={this.snapshots}
        environments={this.environments}
        runs={this.runs}
        open={this._open}
      />
    );
  }
}
