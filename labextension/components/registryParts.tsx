import { InputDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { IGate } from '../api';

/** An alias (`@champion`, with the version it points at when given); gated ones are marked. */
export function AliasBadge(props: {
  alias: string;
  version?: string;
  gated: boolean;
}): JSX.Element {
  const { alias, version, gated } = props;
  return (
    <span
      className={`jp-nblift-alias${gated ? ' jp-nblift-alias-gated' : ''}`}
      data-testid={`nblift-alias-${alias}`}
      title={gated ? `${alias}: gated by the promotion policy` : alias}
    >
      @{alias}
      {version ? ` v${version}` : ''}
    </span>
  );
}

/** The last evaluation of an alias's gates for a version ("passed" or "failed: ..."), as a mark. */
export function GateStatus(props: {
  alias: string;
  status: string;
}): JSX.Element {
  const passed = props.status === 'passed';
  return (
    <span
      className={`jp-nblift-gate-status jp-nblift-gate-${passed ? 'passed' : 'failed'}`}
      title={`${props.alias}: ${props.status}`}
    >
      {passed ? '✓' : '✗'} {props.alias}
    </span>
  );
}

/** Gates, each passed or failed with the numbers behind it. */
export function GateList(props: {
  gates: IGate[];
  label: string;
}): JSX.Element {
  return (
    <ul className="jp-nblift-gates" aria-label={props.label}>
      {props.gates.map((gate, i) => (
        <li
          key={i}
          data-testid={`nblift-gate-${gate.kind}`}
          data-passed={gate.passed}
          className={`jp-nblift-gate-${gate.passed ? 'passed' : 'failed'}`}
        >
          <span className="jp-nblift-gate-mark" aria-hidden="true">
            {gate.passed ? '✓' : '✗'}
          </span>
          <span>
            <strong>{gate.label}</strong>{' '}
            <span className="jp-nblift-visually-hidden">
              {gate.passed ? 'passed' : 'failed'}
            </span>
            <span className="jp-nblift-muted">{gate.detail}</span>
          </span>
        </li>
      ))}
    </ul>
  );
}

/** Ask for a reason in a dialog; null when cancelled. */
export async function askReason(
  title: string,
  label: string,
  okLabel: string
): Promise<string | null> {
  const result = await InputDialog.getText({
    title,
    label,
    okLabel,
    placeholder: 'the reason, kept in the audit trail',
    required: true
  });
  return result.button.accept ? (result.value ?? '') : null;
}
