import * as React from 'react';

import { PanelModel } from './model';

/** What a panel model is doing (a progress line) and what went wrong (an alert). */
export function WorkState(props: { model: PanelModel }): JSX.Element {
  const { model } = props;
  return (
    <>
      {model.busy ? (
        <div
          className="jp-nblift-busy"
          role="progressbar"
          aria-label={model.busy}
        >
          <div className="jp-nblift-progress" />
          {model.busy}…
        </div>
      ) : null}
      {model.error ? (
        <div className="jp-nblift-error" role="alert">
          {model.error}
        </div>
      ) : null}
    </>
  );
}
