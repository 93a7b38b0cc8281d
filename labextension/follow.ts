/** A view that follows what happens in the kernel (snapshots taken, runs started, packages installed). */
export interface IFollowed {
  /**
   * Read again quietly (no busy state; an error leaves what is shown as it is); resolves with whether
   * anything shown changed.
   */
  poll(): Promise<boolean>;
  /** Also read on the timer, not only after a cell ran (false: too costly to read every few seconds). */
  readonly timed: boolean;
}

export interface IFollowerOptions {
  views: IFollowed[];
  /** Whether anyone can see the views now (nothing is read while they are hidden). */
  isVisible: () => boolean;
  /** The first delay, and the one after each change (ms). */
  minMs?: number;
  /** The longest delay while nothing changes (ms). */
  maxMs?: number;
  /** How long after the last cell finished to read (cells that run in a row are read once), ms. */
  settleMs?: number;
}

/**
 * Keeps views up to date without a Refresh button: reads after a notebook cell finished (`nudge`) and on
 * a timer that backs off while nothing changes (2 s doubling to 15 s), back to the shortest delay when
 * something changed, a cell ran, or the window got the focus again.
 */
export class KernelFollower {
  constructor(options: IFollowerOptions) {
    this._views = options.views;
    this._isVisible = options.isVisible;
    this._minMs = options.minMs ?? 2000;
    this._maxMs = options.maxMs ?? 15000;
    this._settleMs = options.settleMs ?? 300;
    this._delay = this._minMs;
    window.addEventListener('focus', this._onFocus);
    this._schedule();
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** The current delay of the timer (ms): grows while nothing changes. */
  get delay(): number {
    return this._delay;
  }

  /** Something may have changed (a cell finished): read every view soon, and poll fast again. */
  nudge(): void {
    if (this._disposed) {
      return;
    }
    this._delay = this._minMs;
    window.clearTimeout(this._nudgeTimer);
    this._nudgeTimer = window.setTimeout(
      () => void this._read(true),
      this._settleMs
    );
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.clearTimeout(this._timer);
    window.clearTimeout(this._nudgeTimer);
    window.removeEventListener('focus', this._onFocus);
  }

  private _onFocus = (): void => {
    this._delay = this._minMs;
    this._schedule();
    void this._read(false);
  };

  private _schedule(): void {
    window.clearTimeout(this._timer);
    if (!this._disposed) {
      this._timer = window.setTimeout(() => void this._tick(), this._delay);
    }
  }

  private async _tick(): Promise<void> {
    const changed = await this._read(false);
    this._delay = changed
      ? this._minMs
      : Math.min(this._delay * 2, this._maxMs);
    this._schedule();
  }

  /** Read the views (all of them after a cell ran, else the timed ones); whether any changed. */
  private async _read(afterCell: boolean): Promise<boolean> {
    if (this._reading) {
      this._again = this._again || afterCell; // a cell finished while reading: read once more after
      return false;
    }
    if (this._disposed) {
      return false;
    }
    if (!this._isVisible()) {
      this._missed = this._missed || afterCell; // read all once the views can be seen again
      return false;
    }
    const all = afterCell || this._missed;
    this._missed = false;
    this._reading = true;
    try {
      const views = this._views.filter(v => all || v.timed);
      const changed = await Promise.all(
        views.map(v => v.poll().catch(() => false))
      );
      if (changed.some(Boolean)) {
        this._delay = this._minMs;
        return true;
      }
      return false;
    } finally {
      this._reading = false;
      if (this._again) {
        this._again = false;
        void this._read(true);
      }
    }
  }

  private readonly _views: IFollowed[];
  private readonly _isVisible: () => boolean;
  private readonly _minMs: number;
  private readonly _maxMs: number;
  private readonly _settleMs: number;
  private _delay: number;
  private _timer: number | undefined;
  private _nudgeTimer: number | undefined;
  private _reading = false;
  private _again = false;
  private _missed = false;
  private _disposed = false;
}
