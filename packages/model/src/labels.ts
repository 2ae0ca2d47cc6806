import { readFile } from 'node:fs/promises';
import { UserError } from '@neuronscope/core';

/**
 * Class labels, one per line (LF or CRLF), line i naming class i. Trailing empty lines are ignored and
 * surrounding whitespace is trimmed. A missing or empty file is a {@link UserError}.
 */
export async function loadLabels(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`labels file not found: ${path}`);
    throw new UserError(`cannot read labels ${path}: ${code ?? (err as Error).message}`);
  }
  const labels = text.split(/\r?\n/).map((line) => line.trim());
  while (labels.length > 0 && labels[labels.length - 1] === '') labels.pop();
  if (labels.length === 0) throw new UserError(`labels file ${path} is empty`);
  return labels;
}
