import * as React from 'react';
import { ISignal, Signal } from '@lumino/signaling';

import { NbliftAPIError } from '../api';

/** What a failure says to the user: the server's message and what to do about it. */
export function describeError(error: unknown): string {
  if (error instanceof NbliftAPIError) {
    return error.message + (error.hint ? ` (${error.hint})` : '');
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Base of the sidebar's models: one piece of work at a time, shown as busy with a label,
 * its failure kept as a readable error, and a `changed` signal for the views.
 */
export class PanelModel {
  get busy(): string | null {
    return this._busy;
  }
  get error(): string | null {
    return this._error;
  }
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  protected emit(): void {
    this._changed.emit();
  }

  protected fail(message: string): void {
    this._error = message;
    this._changed.emit();
  }

  /** Run `work` with `label` shown as progress; a failure becomes `error`. */
  protected async work(
    label: string | null,
    work: () => Promise<void>
  ): Promise<void> {
    this._busy = label;
    this._error = null;
    this._changed.emit();
    try {
      await work();
    } catch (error) {
      this._error = describeError(error);
    } finally {
      this._busy = null;
      this._changed.emit();
    }
  }

  private _busy: string | null = null;
  private _error: string | null = null;
  private _changed = new Signal<this, void>(this);
}

/**
 * Base of the models that show one project, named by the path (relative to the server root) of a
 * notebook or folder in it: a new path refreshes what is shown.
 */
export abstract class ProjectModel extends PanelModel {
  get path(): string {
    return this._path;
  }
  set path(value: string) {
    if (value !== this._path) {
      this._path = value;
      this.pathChanged();
    }
  }

  abstract refresh(): Promise<void>;

  /**
   * Whether `present()` holds (something asked for is in the list shown), reloading once when it does not;
   * fails with `missing` when it still does not.
   */
  protected async listed(
    present: () => boolean,
    missing: string
  ): Promise<boolean> {
    if (!present()) {
      await this.refresh();
    }
    if (present()) {
      return true;
    }
    this.fail(missing);
    return false;
  }

  /** Called when the path changes: reloads. */
  protected pathChanged(): void {
    void this.refresh();
  }

  /** The query parameters naming the project for the REST API. */
  protected query(): Record<string, string> {
    return this._path ? { path: this._path } : {};
  }

  private _path = '';
}

/** Re-render a React view whenever its model changes. */
export function useModel(model: PanelModel): void {
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const onChange = (): void => setTick(tick => tick + 1);
    model.changed.connect(onChange);
    return () => {
      model.changed.disconnect(onChange);
    };
  }, [model]);
}
