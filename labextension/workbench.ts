import { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { ExperimentsModel } from './components/ExperimentsModel';
import { ExperimentsView } from './components/ExperimentsView';
import { RegistryModel } from './components/RegistryModel';
import { RegistryView } from './components/RegistryView';
import { RunsModel } from './components/RunsModel';
import { RunsView } from './components/RunsView';
import { nbliftIcon } from './icons';

/** The views that open in JupyterLab's main area, one tab each. */
export type ViewKind = 'experiments' | 'runs' | 'registry';

export const VIEW_KINDS: ViewKind[] = ['experiments', 'runs', 'registry'];

/** What the tab, the launcher and the palette call each view, and what it is for. */
export const VIEW_TITLES: Record<ViewKind, { label: string; caption: string }> =
  {
    experiments: {
      label: 'Experiments',
      caption:
        'MLflow experiments: the runs table, a run in detail, runs compared'
    },
    runs: {
      label: 'Runs',
      caption: 'Notebook runs on every backend, followed live'
    },
    registry: {
      label: 'Registry',
      caption:
        'Registered models: versions, aliases, gates, approvals, card, lineage'
    }
  };

export function isViewKind(value: unknown): value is ViewKind {
  return VIEW_KINDS.includes(value as ViewKind);
}

/** The models the views show; the sidebar shares them. */
export interface IWorkbenchModels {
  experiments: ExperimentsModel;
  runs: RunsModel;
  registry: RegistryModel;
}

/** One view with the room of the main area; reads its model again each time it comes into sight. */
export class WorkbenchView extends ReactWidget {
  constructor(
    readonly kind: ViewKind,
    private readonly _models: IWorkbenchModels
  ) {
    super();
    this.addClass('jp-nblift-workbench');
    this.addClass(`jp-nblift-workbench-${kind}`);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    const model = this._models[this.kind];
    if (this.kind === 'experiments') {
      this._models.experiments.visible = true;
    }
    if (model.busy === null) {
      void model.refresh();
    }
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    if (this.kind === 'experiments') {
      this._models.experiments.visible = false; // live refresh pauses
    }
  }

  protected render(): JSX.Element {
    switch (this.kind) {
      case 'experiments':
        return React.createElement(ExperimentsView, {
          model: this._models.experiments
        });
      case 'runs':
        return React.createElement(RunsView, { model: this._models.runs });
      case 'registry':
        return React.createElement(RegistryView, {
          model: this._models.registry
        });
    }
  }
}

/**
 * The main-area views: opened (or brought forward: one tab per view) by `open`, tracked so that the
 * workspace restores them with the command `command` and argument `view`.
 */
export class Workbench {
  constructor(
    private readonly _app: JupyterFrontEnd,
    private readonly _models: IWorkbenchModels,
    command: string,
    restorer: ILayoutRestorer | null
  ) {
    this._tracker = new WidgetTracker<MainAreaWidget<WorkbenchView>>({
      namespace: 'nblift-workbench'
    });
    void restorer?.restore(this._tracker, {
      command,
      args: widget => ({ view: widget.content.kind }),
      name: widget => widget.content.kind
    });
  }

  get tracker(): WidgetTracker<MainAreaWidget<WorkbenchView>> {
    return this._tracker;
  }

  /** Whether any of the views can be seen now. */
  get anyVisible(): boolean {
    let visible = false;
    this._tracker.forEach(widget => {
      visible = visible || widget.isVisible;
    });
    return visible;
  }

  /** Open view `kind` in the main area, or bring its tab forward when it is open already. */
  async open(kind: ViewKind, activate = true): Promise<void> {
    let widget = this._tracker.find(w => w.content.kind === kind);
    if (!widget) {
      const content = new WorkbenchView(kind, this._models);
      widget = new MainAreaWidget({ content });
      widget.id = `nblift-${kind}`;
      widget.title.label = VIEW_TITLES[kind].label;
      widget.title.caption = VIEW_TITLES[kind].caption;
      widget.title.icon = nbliftIcon;
      widget.title.closable = true;
      this._app.shell.add(widget, 'main', { activate });
      await this._tracker.add(widget);
    }
    if (activate) {
      this._app.shell.activateById(widget.id);
    }
  }

  private readonly _tracker: WidgetTracker<MainAreaWidget<WorkbenchView>>;
}
