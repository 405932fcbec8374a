import { readFileSync, readdirSync } from 'node:fs';

/**
 * Kills processes and every process below them, at once (SIGKILL: Lambda destroys an environment
 * the same way, with whatever it started). Descendants are found in /proc on Linux, before any is
 * killed, so a child killed first cannot orphan its own children out of reach; elsewhere only the
 * processes given are killed. A process that has already exited is skipped.
 */
export function killProcessTrees(roots: Iterable<number>): void {
  const pids = withDescendants([...roots]);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited meanwhile (ESRCH).
    }
  }
}

function withDescendants(roots: readonly number[]): number[] {
  if (roots.length === 0) return [];
  const children = childrenByParent();
  const found = new Set<number>();
  const visit = (pid: number): void => {
    if (found.has(pid)) return;
    found.add(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  for (const root of roots) visit(root);
  return [...found];
}

/** Every process's children, from each /proc/<pid>/stat's parent pid; empty where there is no /proc. */
function childrenByParent(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return children;
  }
  for (const name of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  return children;
}

/** A process's parent and its start time (clock ticks after boot), from /proc; undefined once it is gone or where there is no /proc. */
export function processInfo(pid: number): { parent: number; startTime: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // After `pid (comm) `: state is field 3, ppid field 4, starttime field 22.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { parent: Number(fields[1]), startTime: fields[19]! };
}
