import * as React from 'react';

import { IAuditTrail } from '../api';
import { DataTable } from './common';
import { formatTime } from './format';

const HEADERS = ['When', 'Action', 'Version', 'Alias', 'Reason', 'Who'];

/** A model's audit trail, newest first: who did what to which version, when and why. */
export function AuditTrailView(props: { trail: IAuditTrail }): JSX.Element {
  const { trail } = props;
  const entries = [...trail.entries].reverse();
  return (
    <section className="jp-nblift-audit" aria-label="audit trail">
      <h5 className="jp-nblift-subtitle">Audit trail</h5>
      {trail.problems.length > 0 ? (
        <div
          className="jp-nblift-error"
          role="alert"
          aria-label="audit trail damaged"
          data-testid="nblift-audit-problems"
        >
          The audit trail was changed after it was written: it cannot be
          trusted.
          <ul>
            {trail.problems.map((problem, i) => (
              <li key={i}>{problem}</li>
            ))}
          </ul>
        </div>
      ) : null}
      {entries.length === 0 ? (
        <p className="jp-nblift-muted">Nothing recorded yet.</p>
      ) : (
        <DataTable label="audit entries" headers={HEADERS}>
          {entries.map((entry, i) => (
            <tr
              key={`${entry.seq}-${i}`}
              data-testid={`nblift-audit-${entry.action}`}
              className={`jp-nblift-audit-${entry.action}`}
            >
              <td>{formatTime(entry.time)}</td>
              <td>{entry.action}</td>
              <td>{entry.version ? `v${entry.version}` : ''}</td>
              <td>{entry.alias ?? ''}</td>
              <td title={entry.reason ?? undefined}>{entry.reason ?? ''}</td>
              <td title={entry.who}>{entry.who}</td>
            </tr>
          ))}
        </DataTable>
      )}
    </section>
  );
}
