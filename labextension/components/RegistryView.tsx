import * as React from 'react';

import { IModelVersion, IRegisteredModel } from '../api';
import { AuditTrailView } from './AuditTrailView';
import { DataTable, DetailHeading, RefreshButton } from './common';
import { AliasBadge, GateStatus } from './registryParts';
import { formatTime } from './format';
import { useModel } from './model';
import { ModelVersionView } from './ModelVersionView';
import { RegistryModel } from './RegistryModel';
import { WorkState } from './WorkState';

function ModelRow(props: {
  entry: IRegisteredModel;
  gated: string[];
  selected: boolean;
  onSelect: () => void;
}): JSX.Element {
  const { entry, gated } = props;
  const aliases = Object.entries(entry.aliases);
  return (
    <li data-testid={`nblift-model-${entry.name}`}>
      <button
        className="jp-nblift-run-row"
        aria-pressed={props.selected}
        title={entry.description || entry.name}
        onClick={props.onSelect}
      >
        <span className="jp-nblift-run-head">
          <span className="jp-nblift-run-name">{entry.name}</span>
          {entry.latest_version ? (
            <span className="jp-nblift-muted">v{entry.latest_version}</span>
          ) : null}
        </span>
        <span className="jp-nblift-aliases">
          {aliases.map(([alias, version]) => (
            <AliasBadge
              key={alias}
              alias={alias}
              version={version}
              gated={gated.includes(alias)}
            />
          ))}
          {entry.updated !== null ? (
            <span className="jp-nblift-muted">
              updated {formatTime(entry.updated)}
            </span>
          ) : null}
        </span>
      </button>
    </li>
  );
}

function VersionRow(props: {
  model: RegistryModel;
  version: IModelVersion;
  gated: string[];
}): JSX.Element {
  const { model, version: v, gated } = props;
  const opened = model.detail?.version === v.version;
  return (
    <tr
      data-testid={`nblift-model-version-${v.version}`}
      aria-selected={opened}
      className={opened ? 'jp-mod-selected' : undefined}
      onClick={() => void model.openVersion(v.version)}
    >
      <th scope="row">
        <button
          className="jp-nblift-run-link"
          title={`open version ${v.version}`}
          onClick={e => {
            e.stopPropagation();
            void model.openVersion(v.version);
          }}
        >
          v{v.version}
        </button>
      </th>
      <td>
        {v.aliases.map(alias => (
          <AliasBadge key={alias} alias={alias} gated={gated.includes(alias)} />
        ))}
      </td>
      <td>
        {Object.entries(v.gates).map(([alias, status]) => (
          <GateStatus key={alias} alias={alias} status={status} />
        ))}
      </td>
      <td className="jp-nblift-muted">
        {v.created !== null ? formatTime(v.created) : ''}
        {v.registered_by ? ` by ${v.registered_by}` : ''}
      </td>
    </tr>
  );
}

/** The selected model: its versions (aliases, gate status), the opened version, its audit trail. */
function ModelView(props: { model: RegistryModel }): JSX.Element | null {
  const { model } = props;
  const selected = model.model;
  if (!selected) {
    return null;
  }
  return (
    <section
      className="jp-nblift-model"
      aria-label={`registered model ${selected.name}`}
    >
      <DetailHeading what="model" onClose={() => void model.select(null)}>
        Model <code>{selected.name}</code>
      </DetailHeading>
      {selected.description ? (
        <p className="jp-nblift-muted">{selected.description}</p>
      ) : null}
      <DataTable
        label="model versions"
        headers={['Version', 'Aliases', 'Gates', 'Registered']}
      >
        {selected.versions.map(v => (
          <VersionRow
            key={v.version}
            model={model}
            version={v}
            gated={selected.gated_aliases}
          />
        ))}
      </DataTable>
      {model.detail ? (
        <ModelVersionView model={model} detail={model.detail} />
      ) : null}
      {model.audit ? <AuditTrailView trail={model.audit} /> : null}
    </section>
  );
}

/** The Registry view of the nblift sidebar: registered models, their versions, promotion, lineage, cards. */
export function RegistryView(props: { model: RegistryModel }): JSX.Element {
  const { model } = props;
  useModel(model);
  const selected = model.model?.name ?? null;
  return (
    <section className="jp-nblift-registry" aria-label="registry">
      <h3 className="jp-nblift-subtitle">Registry</h3>
      {model.detail ? null : <WorkState model={model} />}
      {model.models.length === 0 ? (
        <p className="jp-nblift-muted">
          No registered models yet: <code>%lift register</code> in a notebook
          registers one.
        </p>
      ) : (
        <ul className="jp-nblift-run-list" aria-label="registered models">
          {model.models.map(entry => (
            <ModelRow
              key={entry.name}
              entry={entry}
              gated={model.gatedAliases}
              selected={entry.name === selected}
              onSelect={() => void model.select(entry.name)}
            />
          ))}
        </ul>
      )}
      <div className="jp-nblift-actions">
        <RefreshButton model={model} label="Refresh registry" />
      </div>
      <ModelView model={model} />
    </section>
  );
}
