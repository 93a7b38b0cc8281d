/** Notebook steps the UI tests share (not a test file: Playwright runs only *.spec.ts). */
import { IJupyterLabPageFixture } from '@jupyterlab/galata';

/** A notebook of one empty code cell on the Python 3 kernel. */
const EMPTY_NOTEBOOK = {
  cells: [
    {
      cell_type: 'code',
      source: '',
      metadata: {},
      outputs: [],
      execution_count: null
    }
  ],
  metadata: {
    kernelspec: {
      name: 'python3',
      display_name: 'Python 3',
      language: 'python'
    }
  },
  nbformat: 4,
  nbformat_minor: 5
};

/**
 * Write an empty notebook at `path` (relative to the server root) and open it. It is made under its own name
 * rather than renamed: a kernel keeps the name its notebook had when it started, and finds its project by it.
 */
export async function openNewNotebook(
  page: IJupyterLabPageFixture,
  path: string
): Promise<void> {
  await page.contents.uploadContent(
    JSON.stringify(EMPTY_NOTEBOOK),
    'text',
    path
  );
  await page.notebook.openByPath(path);
  await page.notebook.activate(path.split('/').pop() as string);
}

/** Put `code` into a new cell at the end and run it; resolves with the cell's index. */
export async function runLast(
  page: IJupyterLabPageFixture,
  code: string
): Promise<number> {
  await page.notebook.addCell('code', code);
  const last = (await page.notebook.getCellCount()) - 1;
  await page.notebook.setCell(last, 'code', code);
  await page.notebook.runCell(last);
  return last;
}

/** What the cell at `index` printed or displayed, as one text. */
export async function cellText(
  page: IJupyterLabPageFixture,
  index: number
): Promise<string> {
  return ((await page.notebook.getCellTextOutput(index)) ?? []).join('');
}
