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
import { RefreshButton } from './common';
import { formatBytes } from './format';
import { ProjectModel, useModel } from './model';
import { WorkState } from './WorkState';
import { SnapshotsModel, SnapshotsView } from './SnapshotsView';
import { EnvironmentsModel, EnvironmentsView } from './EnvironmentsView';
import { RunsModel } from './RunsModel';
import { RunsView } from './RunsView';
import { ExperimentsModel } from './ExperimentsModel';
import { ExperimentsView } from './ExperimentsView';
import { RegistryModel } from './RegistryModel';
import { RegistryView } from './RegistryView';

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
    { label: 'Integrity', value: fsckSummary(status.fsck), testId: 'fsck' }
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
}

function StatusView(props: {
  model: StatusModel;
  snapshots: SnapshotsModel;
  environments: EnvironmentsModel;
  runs: RunsModel;
  experiments: ExperimentsModel;
  registry: RegistryModel;
}): JSX.Element {
  const { model, snapshots, environments, runs, experiments, registry } = props;
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
      <WorkState model={model} />
      {status ? (
        <>
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
            <p className="jp-nblift-muted">No run backend is installed yet.</p>
          ) : (
            <ul className="jp-nblift-backends" aria-label="nblift backends">
              {status.backends.map(backend => (
                <li
                  key={backend.name}
                  data-testid={`nblift-backend-${backend.name}`}
                >
                  <strong>{backend.name}</strong>{' '}
                  {backend.available
                    ? 'available'
                    : `needs ${backend.missing.join(', ')}: ${backend.install_hint ?? ''}`}
                </li>
              ))}
            </ul>
          )}
        </>
      ) : null}
      <div className="jp-nblift-actions">
        <RefreshButton model={model} label="Refresh" />
        <button
          className="jp-mod-styled jp-mod-accept"
          disabled={model.busy !== null}
          onClick={() => void model.verify()}
        >
          Verify store
        </button>
      </div>
      {status ? <SnapshotsView model={snapshots} /> : null}
      {status ? (
        <EnvironmentsView
          model={environments}
          snapshotIds={snapshots.snapshots.map(s => s.id)}
        />
      ) : null}
      {status ? <RunsView model={runs} /> : null}
      {status ? <ExperimentsView model={experiments} /> : null}
      {status ? <RegistryView model={registry} /> : null}
    </div>
  );
}

/** The nblift left-sidebar panel. */
export class StatusPanel extends ReactWidget {
  constructor(
    readonly model: StatusModel,
    readonly snapshots: SnapshotsModel,
    readonly environments: EnvironmentsModel,
    readonly runs: RunsModel,
    readonly experiments: ExperimentsModel,
    readonly registry: RegistryModel
  ) {
    super();
    this.addClass('jp-nblift-sidebar');
  }

  /** Refresh whenever the user opens the panel. */
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
    this.experiments.visible = true;
    if (this.experiments.busy === null) {
      void this.experiments.refresh();
    }
    if (this.registry.busy === null) {
      void this.registry.refresh();
    }
  }

  /** Live refresh of the experiments pauses while the panel is hidden. */
  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.experiments.visible = false;
  }

  dispose(): void {
    if (!this.isDisposed) {
      this.runs.dispose();
      this.experiments.dispose();
    }
    super.dispose();
  }

  protected render(): JSX.Element {
    return (
      <StatusView
        model={this.model}
        snapshots={this.snapshots}
        environments={this.environments}
        runs={this.runs}
        experiments={this.experiments}
        registry={this.registry}
      />
    );
  }
}
