// One line per event on stdout, prefixed with the node name.
export type Log = (line: string) => void;

export function nodeLog(node: string): Log {
  return (line: string) => {
    process.stdout.write(`[${node}] ${line}\n`);
  };
}
