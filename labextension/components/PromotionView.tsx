import * as React from 'react';

import { IPromotion } from '../api';

import { RegistryModel } from './RegistryModel';
import { askReason, GateList } from './registryParts';

/** Where the alias points now, in words. */
function holderText(previous: string | null, version: string): string {
  if (previous === null) {
    return 'no version holds it yet';
  }
  return previous === version
    ? 'this version holds it'
    : `version ${previous} holds it`;
}

/** Promote past the failing gates, with a reason asked for in a dialog. */
async function override(
  model: RegistryModel,
  blocked: IPromotion
): Promise<void> {
  const reason = await askReason(
    `Override the gates of ${blocked.alias}`,
    `Why may v${blocked.version} skip its failing gates?`,
    'Override'
  );
  if (reason !== null) {
    await model.promote(reason);
  }
}

/** Reject the opened version for `alias`, with a reason asked for in a dialog. */
async function reject(model: RegistryModel, alias: string): Promise<void> {
  const reason = await askReason(
    `Reject for ${alias}`,
    'What must change before this version may be promoted?',
    'Reject'
  );
  if (reason !== null) {
    await model.decide(false, reason);
  }
}

/** A promotion its gates blocked: the failing gates, and the way past them with a reason. */
function Blocked(props: { model: RegistryModel }): JSX.Element | null {
  const { model } = props;
  const blocked = model.blocked;
  if (!blocked) {
    return null;
  }
  const failing = blocked.gates.filter(g => !g.passed);
  return (
    <div
      className="jp-nblift-error"
      role="alert"
      aria-label="promotion blocked"
    >
      Promotion of v{blocked.version} to <code>{blocked.alias}</code> blocked:{' '}
      {failing.length} gate{failing.length === 1 ? '' : 's'} failed.
      <GateList gates={failing} label="failing gates" />
      <button
        className="jp-mod-styled jp-mod-warn"
        disabled={model.busy !== null}
        title="Promote although the gates fail; the reason goes into the audit trail"
        onClick={() => void override(model, blocked)}
      >
        Override…
      </button>
    </div>
  );
}

/** The gates of an alias evaluated for the opened version; promote, approve, reject. */
export function PromotionView(props: { model: RegistryModel }): JSX.Element {
  const { model } = props;
  const gates = model.gates;
  const alias = model.alias;
  const busy = model.busy !== null;
  const choices = model.gatedAliases.includes(alias)
    ? model.gatedAliases
    : [alias, ...model.gatedAliases];
  const approvals = gates?.gates.some(g => g.kind === 'approvals') ?? false;
  return (
    <div className="jp-nblift-promotion" aria-label="promotion" role="group">
      <h5 className="jp-nblift-subtitle">Promotion</h5>
      <label className="jp-nblift-field jp-nblift-picker">
        <span>Alias</span>
        <select
          className="jp-nblift-select"
          aria-label="promotion alias"
          value={alias}
          disabled={busy}
          onChange={e => void model.chooseAlias(e.currentTarget.value)}
        >
          {choices.map(a => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </select>
      </label>
      {gates ? (
        <>
          <p className="jp-nblift-muted" data-testid="nblift-alias-holder">
            {alias}: {holderText(gates.previous, gates.version)}
          </p>
          {gates.gates.length === 0 ? (
            <p className="jp-nblift-muted">
              No gates: the project&apos;s settings have no{' '}
              <code>{`[tool.nblift.promotion.${alias}]`}</code> policy.
            </p>
          ) : (
            <GateList gates={gates.gates} label="gates" />
          )}
        </>
      ) : null}
      <Blocked model={model} />
      <div className="jp-nblift-actions">
        <button
          className="jp-mod-styled"
          disabled={busy}
          title={`Run the quality gates of ${alias} for this version (data schema, behaviour cases, drift); their verdicts go into the audit trail`}
          onClick={() => void model.runGates()}
        >
          Run gates
        </button>
        <button
          className="jp-mod-styled jp-mod-accept"
          disabled={busy}
          onClick={() => void model.promote()}
        >
          Promote to {alias}
        </button>
        {approvals ? (
          <>
            <button
              className="jp-mod-styled"
              disabled={busy}
              title={`Approve this version for ${alias}, as the logged-in user`}
              onClick={() => void model.decide(true)}
            >
              Approve
            </button>
            <button
              className="jp-mod-styled jp-mod-warn"
              disabled={busy}
              title={`Reject this version for ${alias}, with a reason`}
              onClick={() => void reject(model, alias)}
            >
              Reject…
            </button>
          </>
        ) : null}
      </div>
    </div>
  );
}
