import { expect, test } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';

import { openView } from './views';

/** The id of experiment `name` in the root project (seeded by jupyter_server_test_config.py). */
async function experimentId(
  request: { get: (url: string) => Promise<{ json: () => Promise<any> }> },
  baseURL: string | undefined,
  name: string
): Promise<string> {
  const reply = await (
    await request.get(`${baseURL}/nblift/api/experiments`)
  ).json();
  const found = reply.experiments.find(
    (e: { name: string }) => e.name === name
  );
  expect(found, `experiment ${name} is seeded`).toBeTruthy();
  return found.id;
}

/** The numbers in column `column` of the table's rows, top to bottom. */
async function columnValues(table: Locator, column: string): Promise<number[]> {
  return table.evaluate((element: Element, id: string) => {
    const headers = Array.from(element.querySelectorAll('thead th'));
    const index = headers.findIndex(
      th => th.querySelector(`[aria-label="sort by ${id}"]`) !== null
    );
    return Array.from(element.querySelectorAll('tbody tr')).map(row =>
      Number(row.children[index]?.textContent)
    );
  }, column);
}

test.use({ viewport: { width: 1280, height: 800 } });

test.describe('nblift experiments view at scale', () => {
  test('100,000 runs: the first page shows, the server filters, sorts and pages', async ({
    page,
    baseURL
  }) => {
    // ui-scale: run-0 … run-99999, lr cycling 0.1/0.01/0.001 and depth 0…6 with n, newest last.
    const id = await experimentId(page.request, baseURL, 'ui-scale');
    const tab = await openView(page, 'experiments');
    const view = tab.getByRole('region', { name: 'experiments' });
    const picker = view.getByRole('combobox', { name: 'Experiment' });
    await expect(
      picker.locator('option', { hasText: 'ui-scale (100000)' })
    ).toHaveCount(1);
    await picker.selectOption(id);
    const table = view.getByRole('table', { name: 'experiment runs' });
    const rows = table.locator('tbody tr');
    const names = table.locator('tbody .jp-nblift-run-link');
    const range = view.getByTestId('nblift-runs-range');
    await expect(range).toHaveText('rows 1–50 of 100000');
    await expect(rows).toHaveCount(50);
    await expect(names.first()).toHaveText('run-99999');
    await expect(names.last()).toHaveText('run-99950');

    // lr 0.1 (n % 3 == 0) and depth 3 (n % 7 == 3): n % 21 == 3, 4,762 runs, the newest run-99984.
    const filter = view.getByRole('searchbox', { name: 'Filter runs' });
    await filter.fill("params.lr = '0.1' and params.depth = '3'");
    await filter.press('Enter');
    await expect(range).toHaveText('rows 1–50 of 4762');
    await expect(names.first()).toHaveText('run-99984');
    await expect(names.nth(1)).toHaveText('run-99963');

    // Sorted by loss on the server: ascending, then descending, across the whole filtered set.
    const sort = table.getByRole('button', { name: 'sort by metrics.loss' });
    await sort.click();
    await expect(table.locator('th[aria-sort="ascending"]')).toHaveCount(1);
    await expect(names.first()).not.toHaveText('run-99984');
    let losses = await columnValues(table, 'metrics.loss');
    expect(losses).toHaveLength(50);
    expect(losses).toEqual([...losses].sort((a, b) => a - b));
    const firstAscending = await names.first().textContent();
    await sort.click();
    await expect(table.locator('th[aria-sort="descending"]')).toHaveCount(1);
    await expect(names.first()).not.toHaveText(firstAscending ?? '');
    losses = await columnValues(table, 'metrics.loss');
    expect(losses).toEqual([...losses].sort((a, b) => b - a));
    const lastOfFirstPage = losses[losses.length - 1];

    // The next page carries on where the first stopped; the previous one comes back.
    const next = view.getByRole('button', { name: 'Next' });
    const previous = view.getByRole('button', { name: 'Previous' });
    await next.click();
    await expect(range).toHaveText('rows 51–100 of 4762');
    await expect(rows).toHaveCount(50);
    const secondPage = await columnValues(table, 'metrics.loss');
    expect(secondPage[0]).toBeLessThanOrEqual(lastOfFirstPage);
    expect(secondPage).toEqual([...secondPage].sort((a, b) => b - a));
    await previous.click();
    await expect(range).toHaveText('rows 1–50 of 4762');
    expect(await columnValues(table, 'metrics.loss')).toEqual(losses);
  });
});
