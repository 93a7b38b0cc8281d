import * as React from 'react';

import { IModelVersionDetail } from '../api';
import {
  CopyableId,
  DetailHeading,
  IdRow,
  Message,
  Pairs,
  StateBadge,
  useScrollIntoView
} from './common';
import { formatTime } from './format';
import { LineageGraph } from './LineageGraph';
import { ModelCardView } from './ModelCardView';
import { PromotionView } from './PromotionView';
import { RegistryModel } from './RegistryModel';
import { AliasBadge } from './registryParts';
import { WorkState } from './WorkState';

/** The version's aliases (ungated ones removable) and a field that points another ungated alias here. */
function Aliases(props: {
  model: RegistryModel;
  detail: IModelVersionDetail;
}): JSX.Element {
  const { model, detail } = props;
  const gated = model.gatedAliases;
  const busy = model.busy !== null;
  const [alias, setAlias] = React.useState('');
  return (
    <tr>
      <th scope="row">Aliases</th>
      <td data-testid="nblift-version-aliases">
        <span className="jp-nblift-aliases">
          {detail.aliases.length === 0 ? (
            <span className="jp-nblift-muted">none</span>
          ) : null}
          {detail.aliases.map(a => (
            <span key={a} className="jp-nblift-alias-item">
              <AliasBadge alias={a} gated={gated.includes(a)} />
              {gated.includes(a) ? null : (
                <button
                  className="jp-mod-styled jp-nblift-small"
                  aria-label={`remove alias ${a}`}
                  title={`Remove the alias ${a}`}
                  disabled={busy}
                  onClick={() => void model.setAlias(a, false)}
                >
                  ×
                </button>
              )}
            </span>
          ))}
        </span>
        <form
          className="jp-nblift-alias-form"
          onSubmit={e => {
            e.preventDefault();
            if (alias.trim()) {
              void model.setAlias(alias, true).then(() => setAlias(''));
            }
          }}
        >
          <input
            className="jp-mod-styled"
            aria-label="alias to set"
            placeholder="challenger"
            title="An ungated alias (gated ones move by Promote)"
            spellCheck={false}
            value={alias}
            onChange={e => setAlias(e.currentTarget.value)}
          />
          <button
            type="submit"
            className="jp-mod-styled jp-nblift-small"
            disabled={busy || !alias.trim()}
          >
            Set alias
          </button>
        </form>
      </td>
    </tr>
  );
}

function Facts(props: {
  model: RegistryModel;
  detail: IModelVersionDetail;
}): JSX.Element {
  const { model, detail } = props;
  return (
    <table
      className="jp-nblift-table jp-nblift-facts"
      aria-label="version facts"
    >
      <tbody>
        <tr>
          <th scope="row">URI</th>
          <td>
            <CopyableId text={detail.uri} what="model URI" />
          </td>
        </tr>
        {detail.run_id ? (
          <IdRow label="MLflow run" id={detail.run_id} what="MLflow run id" />
        ) : null}
        {detail.flavor ? (
          <tr>
            <th scope="row">Flavor</th>
            <td>{detail.flavor}</td>
          </tr>
        ) : null}
        <tr>
          <th scope="row">Registered</th>
          <td>
            {detail.created !== null ? formatTime(detail.created) : ''}
            {detail.registered_by ? ` by ${detail.registered_by}` : ''}
          </td>
        </tr>
        <Aliases model={model} detail={detail} />
      </tbody>
    </table>
  );
}

/** The opened model version: facts and aliases, promotion, parameters and metrics, lineage, model card. */
export function ModelVersionView(props: {
  model: RegistryModel;
  detail: IModelVersionDetail;
}): JSX.Element {
  const { model, detail } = props;
  const section = useScrollIntoView<HTMLElement>(model.opened);
  const title = `${detail.name} v${detail.version}`;
  return (
    <section
      ref={section}
      className="jp-nblift-run-detail"
      aria-label={`model version ${title}`}
    >
      <DetailHeading
        what="version"
        onClose={() => void model.openVersion(null)}
      >
        Version <code>{title}</code>{' '}
        {detail.status ? <StateBadge state={detail.status} /> : null}
      </DetailHeading>
      {detail.description ? (
        <p className="jp-nblift-muted">{detail.description}</p>
      ) : null}
      <Facts model={model} detail={detail} />
      <WorkState model={model} />
      <Message text={model.message} testId="nblift-registry-message" />
      <PromotionView model={model} />
      <h5 className="jp-nblift-subtitle">Lineage</h5>
      <LineageGraph
        graph={detail.lineage}
        onOpen={node => void model.openNode(node)}
      />
      <h5 className="jp-nblift-subtitle">Parameters</h5>
      <Pairs
        label="parameters"
        values={detail.params}
        empty="No parameters: the run that trained it logged none."
      />
      <h5 className="jp-nblift-subtitle">Metrics</h5>
      <Pairs
        label="metrics"
        values={detail.metrics}
        empty="No metrics: nblift.log(name=value) in the training run records them."
      />
      <ModelCardView model={model} />
    </section>
  );
}
