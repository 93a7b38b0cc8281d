import * as React from 'react';

import { ICardFields } from '../api';
import { RegistryModel } from './RegistryModel';

/** The card's fields people fill in, with their labels. */
const FIELDS: { key: keyof ICardFields; label: string; hint: string }[] = [
  {
    key: 'intended_use',
    label: 'Intended use',
    hint: 'What the model is for, and for whom'
  },
  {
    key: 'limitations',
    label: 'Limitations',
    hint: 'Where it fails or was not tested'
  },
  {
    key: 'ethical_considerations',
    label: 'Ethical considerations',
    hint: 'Risks, fairness, data subjects'
  }
];

const EMPTY: ICardFields = {
  intended_use: '',
  limitations: '',
  ethical_considerations: ''
};

/** The form that fills the card's fields; saved with the model. */
function CardForm(props: {
  model: RegistryModel;
  fields: ICardFields;
}): JSX.Element {
  const { model, fields } = props;
  const [values, setValues] = React.useState<ICardFields>(fields);
  const saved = JSON.stringify(fields);
  React.useEffect(() => setValues(fields), [saved]); // a reload that changed nothing keeps the edits
  const changed = FIELDS.some(f => values[f.key] !== fields[f.key]);
  return (
    <form
      className="jp-nblift-card-form"
      aria-label="model card fields"
      onSubmit={e => {
        e.preventDefault();
        void model.saveCard(values);
      }}
    >
      {FIELDS.map(f => (
        <label key={f.key} className="jp-nblift-field">
          <span>{f.label}</span>
          <textarea
            className="jp-mod-styled"
            aria-label={f.label}
            placeholder={f.hint}
            rows={3}
            value={values[f.key]}
            onChange={e => {
              const value = e.currentTarget.value;
              setValues(v => ({ ...v, [f.key]: value }));
            }}
          />
        </label>
      ))}
      <div className="jp-nblift-actions">
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          disabled={model.busy !== null || !changed}
        >
          Save card
        </button>
      </div>
    </form>
  );
}

/**
 * The opened version's model card. The server's HTML page shows only inside a sandboxed iframe (no scripts,
 * an origin of its own), so markup in a name or a field can never run in JupyterLab's origin.
 */
export function ModelCardView(props: { model: RegistryModel }): JSX.Element {
  const { model } = props;
  const card = model.card;
  return (
    <details className="jp-nblift-card" open>
      <summary>Model card</summary>
      {model.cardError ? (
        <div className="jp-nblift-error" role="alert" aria-label="card error">
          {model.cardError}
        </div>
      ) : null}
      {card ? (
        <>
          <div className="jp-nblift-card-frame">
            <iframe
              sandbox=""
              srcDoc={card.html}
              title={`model card ${card.card.title}`}
              data-testid="nblift-model-card"
            />
          </div>
          <CardForm model={model} fields={card.card.fields ?? EMPTY} />
        </>
      ) : null}
    </details>
  );
}
