import {
  answeredError,
  IRun,
  IRunEvent,
  IRunEvents,
  NbliftAPIError,
  openAPI,
  requestAPI,
  TERMINAL_STATES
} from './api';

/** One frame of a server-sent event stream. */
export interface ISSEFrame {
  id: string | null;
  event: string;
  data: string;
}

/** Split server-sent event text into whole frames; `rest` is an unfinished frame waiting for more text. */
export function parseFrames(text: string): {
  frames: ISSEFrame[];
  rest: string;
} {
  const frames: ISSEFrame[] = [];
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n\n', start);
    if (end < 0) {
      break;
    }
    const frame: ISSEFrame = { id: null, event: 'message', data: '' };
    const data: string[] = [];
    for (const line of text.slice(start, end).split('\n')) {
      if (line === '' || line.startsWith(':')) {
        continue; // a comment: the server's keep-alive
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') {
        frame.id = value;
      } else if (field === 'event') {
        frame.event = value;
      } else if (field === 'data') {
        data.push(value);
      }
    }
    start = end + 2;
    if (data.length > 0) {
      frame.data = data.join('\n');
      frames.push(frame);
    }
  }
  return { frames, rest: text.slice(start) };
}

/** What a feed hands over: new events, the offset after them, and the run as the server last said. */
export interface IFeedUpdate {
  events: IRunEvent[];
  offset: number;
  run: IRun | null;
}

/** Streams that delivered nothing before the feed falls back to polling. */
const STREAM_TRIES = 2;
/** Without a byte for this long (the server sends a keep-alive every 15 s) a stream counts as stuck. */
const STREAM_SILENCE_MS = 40000;
const POLL_MS = 1000;
/** After a run ends its MLflow run id can still come (tracking is off the critical path). */
const TRACKING_WAIT_S = 60;
const TRACKING_POLL_MS = 2000;

function isFatal(error: unknown): boolean {
  // The run or its project is gone, or the request is refused: retrying will not help.
  return (
    error instanceof NbliftAPIError &&
    error.status >= 400 &&
    error.status < 500 &&
    error.status !== 408 &&
    error.status !== 429
  );
}

/**
 * Follow one run's events: the server-sent event stream while it works, polling
 * `events?after=` when it does not; either way from the last offset seen, so a reconnect resumes.
 */
export class RunFeed {
  constructor(
    private readonly _runId: string,
    private readonly _query: Record<string, string>,
    private readonly _onUpdate: (update: IFeedUpdate) => void,
    private readonly _onError: (error: unknown) => void
  ) {}

  /** The byte offset of the next event to read. */
  get offset(): number {
    return this._offset;
  }

  /** Whether events come over the stream (false once the feed fell back to polling). */
  get streaming(): boolean {
    return this._misses < STREAM_TRIES;
  }

  /** Read from `after` until the run has ended (and its tracking id came) or `stop()`. */
  async follow(after = 0): Promise<void> {
    this._offset = after;
    let failures = 0;
    while (!this._stopped && !this._ended) {
      try {
        if (this.streaming) {
          const delivered = await this._stream();
          this._misses = delivered ? 0 : this._misses + 1;
        } else {
          await this._poll();
          if (!this._ended) {
            await this._sleep(POLL_MS);
          }
        }
        failures = 0;
      } catch (error) {
        if (this._stopped) {
          return;
        }
        if (isFatal(error)) {
          this._onError(error);
          return;
        }
        failures += 1;
        if (this.streaming) {
          this._misses += 1;
        }
        if (failures >= 3) {
          this._onError(error); // say so, and keep trying
        }
        await this._sleep(Math.min(1000 * failures, 10000));
      }
    }
    await this._awaitTracking();
  }

  stop(): void {
    this._stopped = true;
    this._abort?.abort();
    this._wake?.();
  }

  /** Read the stream until it ends; resolves with whether anything came. */
  private async _stream(): Promise<boolean> {
    const abort = new AbortController();
    this._abort = abort;
    const response = await openAPI(
      `runs/${this._runId}/events/stream`,
      { signal: abort.signal, headers: { Accept: 'text/event-stream' } },
      { ...this._query, after: String(this._offset) }
    );
    if (!response.ok) {
      const text = await response.text();
      let data: unknown = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch {
        data = null;
      }
      throw answeredError(response, data);
    }
    if (!response.body) {
      return false; // no readable stream in this browser: poll instead
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let delivered = false;
    let watchdog = window.setTimeout(() => abort.abort(), STREAM_SILENCE_MS);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          return delivered;
        }
        window.clearTimeout(watchdog);
        watchdog = window.setTimeout(() => abort.abort(), STREAM_SILENCE_MS);
        delivered = true;
        buffer += decoder.decode(value, { stream: true });
        const { frames, rest } = parseFrames(buffer);
        buffer = rest;
        this._deliver(frames);
        if (this._ended) {
          return true;
        }
      }
    } catch (error) {
      if (this._stopped || !abort.signal.aborted) {
        throw error;
      }
      return false; // stuck without a byte: count it as a miss and reconnect
    } finally {
      window.clearTimeout(watchdog);
      abort.abort();
    }
  }

  private _deliver(frames: ISSEFrame[]): void {
    const events: IRunEvent[] = [];
    let run: IRun | null = null;
    for (const frame of frames) {
      if (frame.event === 'end') {
        run = JSON.parse(frame.data) as IRun;
        this._last = run;
        this._ended = true;
      } else {
        events.push(JSON.parse(frame.data) as IRunEvent);
      }
      const offset = Number(frame.id);
      if (frame.id !== null && Number.isFinite(offset)) {
        this._offset = offset;
      }
    }
    if (events.length > 0 || run !== null) {
      this._onUpdate({ events, offset: this._offset, run });
    }
  }

  private async _poll(): Promise<IRunEvent[]> {
    const reply = await requestAPI<IRunEvents>(
      `runs/${this._runId}/events`,
      {},
      { ...this._query, after: String(this._offset) }
    );
    if (this._stopped) {
      return [];
    }
    this._offset = reply.next;
    this._last = reply.run;
    if (TERMINAL_STATES.has(reply.run.state) && reply.events.length === 0) {
      this._ended = true;
    }
    this._onUpdate({
      events: reply.events,
      offset: reply.next,
      run: reply.run
    });
    return reply.events;
  }

  /** The run ended without its MLflow ids yet: look for them a little longer. */
  private async _awaitTracking(): Promise<void> {
    const finished = this._last?.finished ?? 0;
    while (
      !this._stopped &&
      this._last !== null &&
      this._last.mlflow === null &&
      Date.now() / 1000 - finished < TRACKING_WAIT_S
    ) {
      await this._sleep(TRACKING_POLL_MS);
      if (this._stopped) {
        return;
      }
      try {
        const events = await this._poll();
        if (events.some(e => e.kind === 'tracking.error')) {
          return;
        }
      } catch {
        return; // the run is shown as it is; its MLflow ids come with the next list refresh
      }
    }
  }

  private _sleep(ms: number): Promise<void> {
    return new Promise(resolve => {
      const timer = window.setTimeout(resolve, ms);
      this._wake = () => {
        window.clearTimeout(timer);
        resolve();
      };
    });
  }

  private _offset = 0;
  private _misses = 0;
  private _ended = false;
  private _stopped = false;
  private _last: IRun | null = null;
  private _abort: AbortController | null = null;
  private _wake: (() => void) | null = null;
}
