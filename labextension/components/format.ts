/** Human-readable byte count. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let size = n;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${size} B` : `${size.toFixed(1)} ${units[unit]}`;
}

/** Human-readable length of time: `850 ms`, `4.2 s`, `3 min 5 s`, `2 h 10 min`. */
export function formatDuration(seconds: number): string {
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const whole = Math.round(seconds);
  if (whole < 3600) {
    return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  }
  return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
}

/** A moment (epoch seconds): the time alone when it is today, else date and time. */
export function formatTime(epoch: number): string {
  const when = new Date(epoch * 1000);
  return when.toDateString() === new Date().toDateString()
    ? when.toLocaleTimeString()
    : when.toLocaleString();
}

/** Seconds as a duration the server parses back: `90s`, `30m`, `2h`, `1h30m`. */
export function formatTimeout(seconds: number): string {
  const whole = Math.round(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  return (
    [
      hours ? `${hours}h` : '',
      minutes ? `${minutes}m` : '',
      rest ? `${rest}s` : ''
    ].join('') || `${seconds}s`
  );
}

/** The last part of a path. */
export function baseName(path: string): string {
  return path.split('/').pop() ?? path;
}

/** A number in at most five significant digits, in exponent form when very large or small. */
export function formatNumber(value: number): string {
  const size = Math.abs(value);
  if (size !== 0 && (size >= 1e5 || size < 1e-3)) {
    return value.toExponential(3);
  }
  return String(Number(value.toPrecision(5)));
}
